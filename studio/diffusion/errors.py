"""The one error type model loading raises: a user-facing message that names the file."""

from __future__ import annotations

from studio.core.context import NodeFailure


class ModelError(NodeFailure):
    """A model file is missing, damaged, of the wrong kind, or refused (a pickle without opt-in)."""
