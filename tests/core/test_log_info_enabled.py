"""`info_enabled`: the adapters' per-operation info lines are built only when they are kept."""

from __future__ import annotations

import io
import logging

import structlog

from listsync.log import configure_logging, info_enabled


def test_info_enabled_follows_the_configuration() -> None:
    logger = logging.getLogger("listsync_hemnet.adapter")
    configure_logging(level="WARNING", stream=io.StringIO())
    assert not info_enabled(logger)
    configure_logging(level="INFO", stream=io.StringIO())
    assert info_enabled(logger)
    configure_logging(level="WARNING", stream=io.StringIO())
    with structlog.testing.capture_logs():
        assert info_enabled(logger)
    structlog.reset_defaults()
    # unconfigured: the line would go to `logging`, whose level decides
    root = logging.getLogger()
    saved = root.level
    try:
        root.setLevel(logging.WARNING)
        assert info_enabled(logger) is logger.isEnabledFor(logging.INFO)
        root.setLevel(logging.INFO)
        assert info_enabled(logger) is logger.isEnabledFor(logging.INFO)
    finally:
        root.setLevel(saved)
        structlog.reset_defaults()
