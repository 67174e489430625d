"""The Celery application, configured from listsync's configuration."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from celery import Celery

from listsync.celery._visibility import RenewVisibility
from listsync.config import Config, load_config
from listsync.errors import ConfigurationError

__all__ = ["CONFIG_VAR", "app", "configure", "load", "make_app", "transport_options"]

CONFIG_VAR = "LISTSYNC_CONFIG"
"""Names the configuration file workers and `--via celery` read (default ./listsync.toml)."""

_DEFAULT_FILE = Path("listsync.toml")


def load() -> Config:
    """The configuration: the file `LISTSYNC_CONFIG` names, else ./listsync.toml if it exists,
    else the `LISTSYNC_*` variables alone."""
    named = os.environ.get(CONFIG_VAR)
    if named:
        return load_config(Path(named))
    return load_config(_DEFAULT_FILE if _DEFAULT_FILE.exists() else None)


def broker_url(config: Config) -> str:
    """`[shared] broker_url`, else `[shared] redis_url`."""
    url = config.shared_broker_url or config.shared_redis_url
    if url is None:
        raise ConfigurationError(
            "Celery workers need [shared] redis_url (or broker_url), e.g. "
            'redis_url = "redis://127.0.0.1:6379/0"',
            key="shared.redis_url",
        )
    return url


def make_app(config: Config | None) -> Celery:
    """A Celery app for `config` (None: configured later, when the broker is known)."""
    celery = Celery("listsync", set_as_current=False)
    celery.conf.update(
        task_acks_late=True,  # a chunk is acknowledged once applied ...
        task_reject_on_worker_lost=True,  # ... and handed to another worker if its dies
        worker_prefetch_multiplier=1,  # a worker holds only the chunk it works on
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        result_expires=24 * 3600,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        task_track_started=True,
    )
    # a live worker renews the chunks it holds: only a dead worker's are redelivered
    celery.steps["consumer"].add(RenewVisibility)
    if config is not None:
        configure(celery, config)
    return celery


def restore_interval(visibility_timeout: float) -> int:
    """Seconds between two sweeps for chunks whose worker died: a fifth of the visibility
    timeout, between 1 and 10 s (one cheap `ZRANGE` on the broker per worker and sweep)."""
    return max(1, min(10, math.floor(visibility_timeout / 5)))


def transport_options(visibility_timeout: float) -> dict[str, Any]:
    """The Redis transport options that redeliver a dead worker's chunk promptly.

    kombu keeps a delivered, unacknowledged message in a sorted set scored by its delivery
    time; a worker's event loop sweeps it every `unacked_restore_interval` seconds, but by
    default scans only on every 10th sweep (`unacked_restore_throttle`): with the default
    10 s interval a message older than `visibility_timeout` waited up to 100 s more for a
    scan. Here every sweep scans and sweeps come every `restore_interval` seconds, so a chunk
    comes back between `visibility_timeout` and `visibility_timeout + restore_interval`
    seconds after it was taken. The sweep runs on the worker's event loop, which only the
    prefork pool keeps running while a task runs (`--pool solo` sweeps between tasks)."""
    return {
        "visibility_timeout": visibility_timeout,
        "unacked_restore_interval": restore_interval(visibility_timeout),
        "unacked_restore_throttle": 1,
    }


def configure(celery: Celery, config: Config) -> None:
    url = broker_url(config)
    timeout = config.shared_visibility_timeout
    celery.conf.update(
        broker_url=url,
        result_backend=url,
        broker_transport_options=transport_options(timeout),
        result_backend_transport_options={"visibility_timeout": timeout},
    )


def _from_environment() -> Celery:
    try:
        config: Config | None = load()
    except ConfigurationError:
        config = None  # reported when a task or `--via celery` needs it
    if config is not None and config.shared_broker_url is None and not config.shared_redis_url:
        config = None
    return make_app(config)


app = _from_environment()
"""The application `celery -A listsync.celery worker` finds."""
