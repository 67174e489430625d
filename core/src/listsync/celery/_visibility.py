"""Keep the chunks a live worker holds its own, so only a dead worker's chunks are redelivered.

Celery on Redis acknowledges late by leaving each delivered message in kombu's "unacked"
sorted set, scored by when it was delivered; every worker's event loop sweeps that set and
puts back in the queue each message older than `visibility_timeout` (see
`listsync.celery._app.transport_options`). Alone, that sweep cannot tell a dead worker's chunk
from a live worker's long one: a chunk running longer than the timeout is delivered a second
time while the first worker still applies it (the listing leases keep the two apart, but the
second reports them `busy` and the work is done twice).

`RenewVisibility`, a step of every worker's consumer, renews the score of each message this
worker holds (received and not yet acknowledged) every quarter of the visibility timeout, in a
thread of its own (so it also runs while a `--pool solo` worker applies a chunk). A `ZADD XX`
only updates members still in the set: a message acknowledged or restored meanwhile is left as
it is. A worker that dies stops renewing, and its chunk comes back `visibility_timeout` seconds
(plus one sweep) after the last renewal: the timeout is then a lease on the chunk, and can be
short (a minute) whatever a chunk's duration. Other transports are left alone.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from celery import bootsteps
from celery.worker import state

from listsync.log import get_logger

__all__ = ["RenewVisibility", "Renewer", "held_tags", "renew_interval"]

log = get_logger(__name__)


def renew_interval(visibility_timeout: float) -> float:
    """Seconds between two renewals: a quarter of the timeout, at least 0.5 s."""
    return max(0.5, visibility_timeout / 4)


def held_tags() -> list[str]:
    """The delivery tags of the messages this worker holds (received, not yet acknowledged)."""
    for _ in range(5):
        try:
            requests = list(state.reserved_requests)
        except RuntimeError:  # the set changed while it was copied: copy again
            continue
        tags = []
        for request in requests:
            tag = getattr(request.message, "delivery_tag", None)
            if tag is not None:
                tags.append(str(tag))
        return tags
    return []


class Renewer:
    """Renews, in a thread, the unacknowledged messages `tags()` names on a kombu Redis
    `channel` every `renew_interval(channel.visibility_timeout)` seconds until `stop()`."""

    def __init__(self, channel: Any, tags: Callable[[], list[str]] = held_tags) -> None:
        self._channel = channel
        self._tags = tags
        self._index_key = str(channel.qos.unacked_index_key)
        self.interval = renew_interval(float(channel.visibility_timeout))
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name="listsync-renew-visibility", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def renew(self) -> int:
        """Renew once; the number of tags renewed (0 when none is held)."""
        tags = self._tags()
        if not tags:
            return 0
        # a client of the channel's synchronous pool (thread-safe; the event loop's own client
        # is not), with the transport's key prefix if one is configured
        with self._channel.conn_or_acquire() as client:
            return int(
                client.zadd(self._index_key, dict.fromkeys(tags, time.time()), xx=True, ch=True)
            )

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.renew()
            except Exception as exc:  # Redis down: the next round tries again
                log.warning("visibility_renew_failed", error=type(exc).__name__)


class RenewVisibility(bootsteps.StartStopStep):
    """The consumer step (see the module docstring)."""

    requires = ("celery.worker.consumer.tasks:Tasks",)

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self._renewer: Renewer | None = None

    def start(self, parent: Any) -> None:
        from kombu.transport.redis import QoS  # noqa: PLC0415  (only with Redis)

        channel = parent.task_consumer.channel
        if isinstance(getattr(channel, "qos", None), QoS):
            self._renewer = Renewer(channel)
            self._renewer.start()

    def stop(self, parent: Any) -> None:
        if self._renewer is not None:
            self._renewer.stop()
            self._renewer = None

    def shutdown(self, parent: Any) -> None:
        self.stop(parent)
