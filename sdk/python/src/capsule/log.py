"""Logging through the standard `logging` module, logger `capsule` and its children.

Repeated events are logged at INFO or below: the first occurrence of a kind of trouble is a
WARNING (or an ERROR where it needs a person), every repeat until it clears is INFO.
"""

from __future__ import annotations

import logging

__all__ = ["logger", "Repeats"]

logger = logging.getLogger("capsule")
logger.addHandler(logging.NullHandler())


class Repeats:
    """Remembers which kinds of event were already logged loudly."""

    def __init__(self, log: logging.Logger) -> None:
        self.log = log
        self._seen: set[str] = set()

    def log_first(self, kind: str, level: int, message: str, *args: object) -> None:
        """Logs at `level` the first time `kind` happens, at INFO while it keeps happening."""
        if kind in self._seen:
            self.log.info(message, *args)
        else:
            self._seen.add(kind)
            self.log.log(level, message, *args)

    def clear(self, kind: str) -> bool:
        """Forgets `kind`, so its next occurrence is loud again; returns whether it had happened."""
        if kind in self._seen:
            self._seen.discard(kind)
            return True
        return False
