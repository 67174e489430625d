"""`listsync worker` (a Celery worker for listsync's tasks) and `listsync apply --via celery`.

Both need `pip install listsync[celery]` and `[shared] redis_url` (docs/scaling.md).
`apply --via celery` streams FILE into chunk tasks and shows their results with the same
progress display, summary table, problem list and `--report` file as a local run; it exits 0
when every listing converged (or was unchanged), 1 otherwise, 2 on usage or configuration
errors, 130 on Ctrl+C (chunks already queued are still applied by the workers and recorded in
the state store; run the command again to see where everything stands).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console

from listsync.cli._engine import check_portals, fail, read_source, start_outputs
from listsync.cli._outcomes import summary_table
from listsync.cli._terminal import terminal
from listsync.config import Config, load_config
from listsync.errors import ConfigurationError
from listsync.registry import Registry
from listsync.sync import RunReport, load_portal_setups
from listsync.syndicator import new_run_id

__all__ = ["CHUNK_SIZE", "apply_via", "worker"]

CHUNK_SIZE = 50
"""Listings per chunk task: small enough to spread a run over the workers, large enough that
a task's overhead (a broker round trip, a state lease) is small beside its requests."""


def _config() -> Config:
    try:
        return load_config(terminal.config)
    except ConfigurationError as exc:
        raise fail(str(exc)) from None


def _need_celery(what: str) -> None:
    try:
        import celery  # noqa: F401, PLC0415  (optional dependency)
        import limits  # noqa: F401, PLC0415
        import redis  # noqa: F401, PLC0415
    except ImportError:
        raise fail(f"{what} needs the celery extra: pip install 'listsync[celery]'") from None


def worker(
    ctx: typer.Context,
    concurrency: Annotated[
        int | None,
        typer.Option("--concurrency", min=1, help="Worker processes (default: one per CPU)."),
    ] = None,
    pool: Annotated[
        str | None, typer.Option("--pool", help="Celery pool: prefork (default) or solo.")
    ] = None,
    loglevel: Annotated[str, typer.Option("--loglevel", help="Celery's log level.")] = "INFO",
) -> None:
    """Start a Celery worker for listsync's tasks (`celery -A listsync.celery worker`, with
    the configuration of --config). Other options after `--` go to Celery as they are."""
    _need_celery("listsync worker")
    config = _config()
    if terminal.config is not None:
        os.environ["LISTSYNC_CONFIG"] = str(Path(terminal.config).resolve())
    from listsync._shared import activate  # noqa: PLC0415
    from listsync.celery import app  # noqa: PLC0415
    from listsync.celery._app import configure  # noqa: PLC0415

    try:
        configure(app, config)
        if config.shared_redis_url is not None:
            activate(config.shared_redis_url)  # checks the key before any task runs
    except ConfigurationError as exc:
        raise fail(str(exc)) from None
    argv = ["worker", f"--loglevel={loglevel}"]
    if concurrency is not None:
        argv += ["--concurrency", str(concurrency)]
    if pool is not None:
        argv += ["--pool", pool]
    app.worker_main([*argv, *ctx.args])


def apply_via(
    via: str,
    file: str,
    *,
    portal: list[str] | None,
    report: Path | None,
    problems: int,
    unsupported: list[str],
) -> NoReturn:
    """`listsync apply FILE --via celery` (see the module docstring)."""
    if via != "celery":
        raise fail(f"--via {via}: must be local or celery")
    if unsupported:
        raise fail(
            f"--via celery does not support {', '.join(unsupported)} (yet): run them locally"
        )
    _need_celery("--via celery")
    check_portals(portal)
    source, lines = read_source(file)
    config = _config()
    from listsync.celery import app, dispatch  # noqa: PLC0415
    from listsync.celery._app import configure  # noqa: PLC0415

    try:
        configure(app, config)
        setups, accounts = load_portal_setups(
            config, registry=Registry(), classes=None, with_provider=False
        )
    except ConfigurationError as exc:
        raise fail(str(exc)) from None
    check_portals(portal, [n for n, s in setups.items() if s.writable])
    result = RunReport(new_run_id(), keep_results=False)
    outputs = start_outputs(lines, portal, report, problems)
    code: int | None = None
    try:
        for entry_result in dispatch(
            outputs.counted_input(source),
            route=accounts.route,
            portals=portal,
            chunk_size=CHUNK_SIZE,
            celery=app,
        ):
            outputs.add(entry_result)
            result.add(entry_result)
    except KeyboardInterrupt:
        result.interrupted = True
        code = 130
    except BaseException:
        outputs.close_progress()
        outputs.close_report(None)
        raise
    outputs.close_progress()
    out = Console(highlight=False)
    out.print(summary_table(result))
    outputs.problems.print(out, report)
    path = outputs.close_report(result)
    if path is not None:
        terminal.note(f"report: {path}", event="report", path=str(path))
    if code is None:
        code = 0 if result.converged else 1
    raise typer.Exit(code)
