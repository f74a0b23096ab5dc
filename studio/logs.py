"""Where details go that a user should not have to read: one log file in the studio's data folder.

The command line and the window print one clear line for a problem; the traceback behind it (a
node that crashed, an internal error) is written here for a bug report.
"""

from __future__ import annotations

import logging
from pathlib import Path

from studio.core.settings import data_dir

_handler: logging.Handler | None = None


def log_file() -> Path:
    return data_dir() / "logs" / "latent-studio.log"


def setup_logging() -> Path | None:
    """Send the ``studio`` loggers to the log file, not to the terminal (once per process)."""
    global _handler
    if _handler is not None:
        return log_file()
    path = log_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _handler = logging.FileHandler(path, encoding="utf-8", delay=True)
    except OSError:
        return None
    _handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("studio")
    logger.addHandler(_handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return path
