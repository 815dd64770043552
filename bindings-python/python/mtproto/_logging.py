"""The core's log records, through Python's :mod:`logging`.

Every record of the native core goes to the logger ``mtproto`` (level
mapped: the core's TRACE is level 5, named ``TRACE``; DEBUG, INFO,
WARNING and ERROR map one to one). The record's ``target`` attribute names
the Rust module that emitted it (``mtproto::net``).

The native side filters before anything reaches Python: it forwards only
the levels the ``mtproto`` logger is enabled for, so a disabled level costs
no GIL acquisition. The filter follows the logger by itself: every
``setLevel`` (on any logger) and ``logging.disable`` re-reads the effective
level, and so do opening a :class:`~mtproto.Runtime` and a session. By
default the root logger's WARNING applies, so only warnings and errors are
forwarded. :func:`sync_log_level` re-reads it by hand, should a change
escape all of those.
"""

from __future__ import annotations

import atexit
import logging
from typing import Callable, List, Optional, Tuple

from . import _native

__all__ = ["LOGGER_NAME", "TRACE", "sync_log_level", "flush_log"]

LOGGER_NAME = "mtproto"

#: Python level of the core's TRACE records.
TRACE = 5
if logging.getLevelName(TRACE) == f"Level {TRACE}":
    logging.addLevelName(TRACE, "TRACE")

# The core's level numbers (1 = error ... 5 = trace) and Python's.
_PY_LEVEL = {1: logging.ERROR, 2: logging.WARNING, 3: logging.INFO, 4: logging.DEBUG, 5: TRACE}

_logger = logging.getLogger(LOGGER_NAME)
_current: Optional[int] = -1  # the native level last set; -1: not yet


def _native_level(python_level: int) -> Optional[int]:
    """The most verbose core level a Python level lets through, or None."""
    if python_level <= TRACE:
        return 5
    if python_level <= logging.DEBUG:
        return 4
    if python_level <= logging.INFO:
        return 3
    if python_level <= logging.WARNING:
        return 2
    if python_level <= logging.ERROR:
        return 1
    return None


def sync_log_level() -> None:
    """Makes the native filter match the ``mtproto`` logger's effective
    level (and ``logging.disable``) now."""
    global _current
    if _logger.disabled or logging.root.manager.disable >= logging.CRITICAL:
        level: Optional[int] = None
    else:
        effective = max(_logger.getEffectiveLevel(), logging.root.manager.disable + 1)
        level = _native_level(effective)
    if level != _current:
        _current = level
        _native.set_log_level(level)


def _deliver(batch: List[Tuple[int, str, str]]) -> None:
    """Runs on the core's log thread, with the GIL, once per batch."""
    for level, target, message in batch:
        py_level = _PY_LEVEL.get(level, logging.ERROR)
        if not _logger.isEnabledFor(py_level):
            continue
        record = _logger.makeRecord(
            LOGGER_NAME, py_level, target, 0, message, (), None, extra={"target": target}
        )
        _logger.handle(record)


def flush_log(timeout: float = 1.0) -> bool:
    """Waits up to ``timeout`` seconds until every record the core emitted
    so far has gone through :mod:`logging`. False if some are still queued."""
    return _native.flush_log(timeout)


def _install() -> None:
    handler: Callable[[List[Tuple[int, str, str]]], None] = _deliver
    _native.set_log_sink(2, handler)
    sync_log_level()
    # Every Logger.setLevel and logging.disable call the manager's
    # _clear_cache(); wrapping it is how the filter follows the logger. The
    # hook is optional: without it, the sync at Runtime and session open
    # (and sync_log_level) still apply.
    manager = logging.Logger.manager
    original = getattr(manager, "_clear_cache", None)
    if callable(original) and not getattr(original, "_mtproto_sync", False):

        def clear_cache_and_sync() -> None:
            original()
            sync_log_level()

        setattr(clear_cache_and_sync, "_mtproto_sync", True)
        setattr(manager, "_clear_cache", clear_cache_and_sync)
    # Records still queued at exit reach the handlers before logging shuts
    # down (atexit runs in reverse order: this runs before logging.shutdown).
    atexit.register(flush_log, 0.5)


_install()
