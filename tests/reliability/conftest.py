"""Fixtures for the reliability suite; the scenarios themselves live in `_support.py` (shared
with scripts/soak.py)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
import structlog

from ._support import Served, serve, write_listings


@pytest.fixture(autouse=True)
def quiet_logs() -> Iterator[None]:
    """In-process runs log at WARNING and above only (formatting debug lines for thousands of
    requests costs more than the runs); the previous configuration is restored after."""
    saved = structlog.get_config()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    yield
    structlog.configure(**saved)


@pytest.fixture
def make_listings(tmp_path: Path) -> Callable[[int], Path]:
    """`make_listings(n)` writes n cloned example listings to a JSONL file."""
    return lambda n: write_listings(tmp_path / f"listings-{n}.jsonl", n)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Callable[..., Served]]:
    """`served(faults=None, key_lifetime_s=..., extra=...)`: fresh sandboxes on loopback and a
    TOML config for them; stopped after the test."""
    with ExitStack() as stack:

        def make(**kwargs: Any) -> Served:
            return stack.enter_context(serve(tmp_path, **kwargs))

        yield make
