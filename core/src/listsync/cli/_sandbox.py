"""`listsync sandbox serve NAME`: serve a portal's sandbox on loopback until interrupted.

The printed `[portals.NAME]` table holds the sandbox's own fake credentials in clear: they are
made up by the sandbox at start and guard nothing but it, and a person has to paste them into a
config file. A port that is taken is one line on standard error and exit 2.
"""

from __future__ import annotations

import errno
import json
import signal
import socket
import threading
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import SecretStr, ValidationError

from listsync.cli._terminal import terminal
from listsync.errors import ListsyncError
from listsync.registry import SANDBOX_GROUP, Registry

__all__ = ["port_free", "sandbox_serve_command", "sandbox_settings_lines", "wait_for_interrupt"]


def sandbox_serve_command(
    name: Annotated[str, typer.Argument(help="The sandbox, e.g. hemnet, immowelt or booli.")],
    *,
    port: Annotated[int, typer.Option("--port", help="TCP port; 0 picks a free one.")] = 0,
    host: Annotated[str, typer.Option("--host", help="Interface to bind.")] = "127.0.0.1",
    account: Annotated[str, typer.Option("--account", help="Account to print.")] = "default",
    seed: Annotated[int, typer.Option("--seed", help="Seed of the fault injection.")] = 0,
    error_rate: Annotated[float, typer.Option("--error-rate", help="Share of 5xx.")] = 0.0,
    rate_limit_rate: Annotated[
        float, typer.Option("--rate-limit-rate", help="Share of 429.")
    ] = 0.0,
    drop_rate: Annotated[float, typer.Option("--drop-rate", help="Commit-then-drop.")] = 0.0,
    latency_ms: Annotated[float, typer.Option("--latency-ms", help="Added latency.")] = 0.0,
    credentials: Annotated[
        Path | None,
        typer.Option(
            "--credentials",
            help="JSON file of fixed fake credentials: made (0600) on first use, reused after.",
        ),
    ] = None,
    _show_secrets: Annotated[
        bool, typer.Option("--show-secrets", hidden=True, help="Accepted; credentials are shown.")
    ] = False,
) -> None:
    """Serve a portal sandbox over HTTP until interrupted (Ctrl+C).

    Prints the base URL and the portals.NAME settings (as TOML, fake credentials included) an
    adapter needs to reach it. Exit 2 for an unknown sandbox, bad fault options or a taken port.
    """
    from listsync.sandbox import FaultConfig  # noqa: PLC0415  (the web framework: serve only)

    try:
        cls = Registry(SANDBOX_GROUP).get(name)
        faults = FaultConfig(
            seed=seed,
            error_rate=error_rate,
            rate_limit_rate=rate_limit_rate,
            drop_rate=drop_rate,
            latency_ms=latency_ms,
        )
    except ListsyncError as exc:
        raise terminal.fail(str(exc)) from None
    except ValidationError as exc:
        problems = "; ".join(
            f"--{'-'.join(str(p) for p in e['loc']).replace('_', '-')}: {e['msg']}"
            for e in exc.errors(include_url=False, include_input=False)
        )
        raise terminal.fail(f"invalid fault options: {problems}") from None
    if port and not port_free(host, port):
        raise terminal.fail(f"port {port} on {host} is taken; choose another with --port")
    if credentials is not None and not cls.supports_credentials_file():
        raise terminal.fail(f"sandbox {name} does not support --credentials")
    try:
        sandbox = (
            cls(faults=faults)
            if credentials is None
            else cls.with_credentials(credentials, accounts=(account,), faults=faults)
        )
    except (ListsyncError, OSError) as exc:
        raise terminal.fail(f"--credentials: {exc}") from None
    with ExitStack() as stack:
        try:
            base_url = stack.enter_context(sandbox.serve(host=host, port=port))
        except (RuntimeError, OSError) as exc:  # lost a race for the port, or a bad --host
            raise terminal.fail(
                f"sandbox {name} could not listen on {host}:{port}: {exc}"
            ) from None
        typer.echo(f"sandbox {name} listening on {base_url}")
        settings = sandbox.client_settings(base_url, account)
        for text in sandbox_settings_lines(name, settings):
            typer.echo(text)
        terminal.note("Press Ctrl+C to stop.")
        wait_for_interrupt()
    terminal.note(f"sandbox {name} stopped")


def port_free(host: str, port: int) -> bool:
    """True when `host:port` can be bound now (checked before starting the server)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def sandbox_settings_lines(name: str, settings: dict[str, Any]) -> Iterator[str]:
    """The sandbox's client settings as a `[portals.NAME]` TOML table, values as they are."""
    yield ""
    yield "# listsync.toml (the credentials are the sandbox's own fake ones)"
    yield f"[portals.{name}]"
    for key, value in settings.items():
        raw = value.get_secret_value() if isinstance(value, SecretStr) else value
        yield f"{key} = {_toml_value(raw)}"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
    return json.dumps(str(value), ensure_ascii=False)  # a TOML basic string


def wait_for_interrupt() -> None:
    """Block until Ctrl+C (SIGINT) or SIGTERM."""
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
