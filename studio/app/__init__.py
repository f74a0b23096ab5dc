"""The application layer: the open document (``Session``), its run queue and history, and the
``RunServices`` built for each run. Qt-free: the window and the command line drive the same code."""

from .queue import Job, JobState, RunQueue
from .session import Session

__all__ = ["Job", "JobState", "RunQueue", "Session"]
