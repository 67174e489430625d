"""Redelivery on the Redis broker (kombu's transport, a real Redis): a message a live worker
holds is renewed and never handed out again; one whose holder stopped renewing comes back
after the visibility timeout; the options `listsync.celery` gives the transport sweep on every
call."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from kombu import Connection, Exchange, Queue

from listsync.celery._app import configure, make_app, restore_interval, transport_options
from listsync.celery._visibility import Renewer, renew_interval
from listsync.config import load_config

from .cluster import flush

VISIBILITY = 1.0


@pytest.fixture
def held(redis_url: str) -> Iterator[tuple[Any, Queue, Any]]:
    """A channel holding one message unacknowledged (as a worker does with acks late)."""
    flush(redis_url)
    name = f"t-{uuid.uuid4().hex[:8]}"
    queue = Queue(name, Exchange(name), name)
    with Connection(redis_url, transport_options=transport_options(VISIBILITY)) as conn:
        conn.Producer().publish({"chunk": 1}, exchange=queue.exchange, routing_key=name,
                                declare=[queue])  # fmt: skip
        channel: Any = conn.channel()
        message = queue(channel).get(no_ack=False)
        assert message is not None
        yield channel, queue, message
        channel.close()


def _sweep(channel: Any) -> None:
    """One sweep as a worker's event loop makes it, with listsync's options."""
    channel.qos.restore_visible(
        num=channel.unacked_restore_limit, interval=channel.unacked_restore_throttle
    )


def test_a_renewed_message_is_not_redelivered_and_comes_back_once_renewal_stops(
    held: tuple[Any, Queue, Any],
) -> None:
    channel, queue, message = held
    renewer = Renewer(channel, tags=lambda: [message.delivery_tag])
    renewer.start()
    try:
        time.sleep(3 * VISIBILITY)
        _sweep(channel)
        assert queue(channel).get(no_ack=True) is None  # still its holder's
    finally:
        renewer.stop()
    time.sleep(VISIBILITY + 0.5)
    _sweep(channel)
    again = queue(channel).get(no_ack=True)
    assert again is not None
    assert again.payload == {"chunk": 1}


def test_without_renewal_the_message_comes_back_after_the_timeout(
    held: tuple[Any, Queue, Any],
) -> None:
    channel, queue, _message = held
    _sweep(channel)
    assert queue(channel).get(no_ack=True) is None  # not yet: younger than the timeout
    time.sleep(VISIBILITY + 0.5)
    _sweep(channel)  # the first sweep after the timeout scans (no throttle)
    assert queue(channel).get(no_ack=True) is not None


def test_renewing_an_acknowledged_message_does_not_bring_it_back(
    held: tuple[Any, Queue, Any],
) -> None:
    channel, queue, message = held
    message.ack()
    assert Renewer(channel, tags=lambda: [message.delivery_tag]).renew() == 0
    time.sleep(VISIBILITY + 0.5)
    _sweep(channel)
    assert queue(channel).get(no_ack=True) is None


def test_the_app_gives_the_transport_the_visibility_timeout_and_an_unthrottled_sweep(
    tmp_path: Any, redis_url: str
) -> None:
    config_file = tmp_path / "listsync.toml"
    config_file.write_text(f'[shared]\nredis_url = "{redis_url}"\nvisibility_timeout = 30\n')
    app = make_app(None)
    configure(app, load_config(config_file))
    options = app.conf.broker_transport_options
    assert options["visibility_timeout"] == 30
    assert options["unacked_restore_throttle"] == 1
    assert options["unacked_restore_interval"] == restore_interval(30) == 6
    with app.connection_for_read() as conn:
        channel: Any = conn.default_channel
        assert channel.visibility_timeout == 30
        assert channel.unacked_restore_throttle == 1
    assert "RenewVisibility" in {s.__name__ for s in app.steps["consumer"]}
    assert renew_interval(30) < 30


@pytest.mark.parametrize(("timeout", "interval"), [(0.5, 1), (10, 2), (60, 10), (3600, 10)])
def test_restore_interval_is_a_fifth_of_the_timeout_between_1_and_10_s(
    timeout: float, interval: int
) -> None:
    assert restore_interval(timeout) == interval
