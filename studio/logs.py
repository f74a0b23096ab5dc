"""Where details go that a user should not have to read: one log file in the studio's data folder.

The command line and the window print one clear line for a problem; the traceback behind it (a
node that crashed, an internal error) is written here for a bug report. The file rotates: past
``MAX_BYTES`` it becomes ``latent-studio.log.1`` (and so on up to ``BACKUPS``), so a studio left
running for weeks never fills the disk.
"""

from __future__ import annotations

import logging
import os
from logging.handlers import RotatingFileHandler
from pathlib import Path

from studio.core.settings import data_dir

MAX_BYTES = 2 * 1024 * 1024
BACKUPS = 5

_handler: RotatingFileHandler | None = None


def log_file() -> Path:
    return data_dir() / "logs" / "latent-studio.log"


def setup_logging(*, max_bytes: int = MAX_BYTES, backups: int = BACKUPS) -> Path | None:
    """Send the ``studio`` loggers to the log file, not to the terminal.

    Calling it again is cheap and keeps the handler, unless the data folder moved (another
    ``LATENT_STUDIO_HOME``) or the size limits changed: the handler is then replaced. None when the
    log folder cannot be made (a read-only home): logging then goes nowhere rather than failing.
    """
    global _handler
    path = log_file()
    if (_handler is not None and _handler.baseFilename == os.path.abspath(path)
            and (_handler.maxBytes, _handler.backupCount) == (max_bytes, backups)):
        return path
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = RotatingFileHandler(path, maxBytes=max_bytes, backupCount=backups, encoding="utf-8",
                                      delay=True)
    except OSError:
        return None
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("studio")
    if _handler is not None:
        logger.removeHandler(_handler)
        _handler.close()
    _handler = handler
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return path
