"""The `listsync` Typer app, its global options, and the explicit registration of every command.

Command modules define plain functions and import nothing from here; this module imports them
and registers each one by name, so the CLI has no import cycle and one place lists it whole.

Global options (`--config`, `--log-format`, `--log-level`) mean the same before or after the
command name: `GlobalOptionsGroup` moves them to the front before click parses the line.
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from listsync.cli import (
    _authoring,
    _basics,
    _config,
    _engine,
    _pull,
    _refresh,
    _sandbox,
    _state,
    _upgrade,
    _workers,
)
from listsync.cli._engine import GraceOpt
from listsync.cli._terminal import terminal

__all__ = ["EXIT_CODES", "app"]

EXIT_CODES = """\
Exit codes:
  0    success: every listing valid / converged / unchanged (refresh: drift found is no
       failure)
  1    some listing is invalid, blocked, failed or its portal unavailable (validate, plan,
       apply, refresh); the portal failed (pull); nothing matched (state forget); the file
       is stale (feature-matrix --check)
  2    usage or configuration error (unknown option, portal or file; bad configuration; a
       damaged or locked state store)
  130  apply/refresh stopped by Ctrl+C (SIGINT), every listing recorded; run it again to
       continue (a second Ctrl+C exits at once; the next run recovers)
  143  apply/refresh stopped by SIGTERM, likewise
"""

GLOBAL_VALUE_OPTIONS = frozenset({"--config", "-c", "--log-format", "--log-level"})


def lift_global_options(args: list[str]) -> list[str]:
    """Move global options given after the command name to the front.

    `listsync apply f.jsonl --log-level DEBUG` becomes `listsync --log-level DEBUG apply
    f.jsonl`. Arguments after `--` are left alone.
    """
    lifted: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            rest += args[i:]
            break
        name = arg.split("=", 1)[0]
        if name in GLOBAL_VALUE_OPTIONS and "=" in arg:
            lifted.append(arg)
        elif arg in GLOBAL_VALUE_OPTIONS and i + 1 < len(args):
            lifted += args[i : i + 2]
            i += 1
        else:
            rest.append(arg)
        i += 1
    return lifted + rest


class GlobalOptionsGroup(TyperGroup):
    """A group whose global options may also follow the command name."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:  # typer vendors click: Any
        return super().parse_args(ctx, lift_global_options(args))


app = typer.Typer(
    name="listsync",
    cls=GlobalOptionsGroup,
    help="Syndicate real-estate listings from your CRM to property portals.",
    epilog="\b\n" + EXIT_CODES,  # \b: click keeps the table's line breaks
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if not value:
        return
    from listsync.registry import Registry  # noqa: PLC0415  (only --version loads adapters)

    typer.echo(f"listsync {importlib.metadata.version('listsync')}")
    registry = Registry()
    for info in registry.adapters():
        typer.echo(f"{info.distribution or info.name} {info.version or 'unknown'} ({info.name})")
    for broken in registry.broken:
        typer.echo(f"{broken.name}: failed to load ({broken.target})")
    raise typer.Exit(0)


@app.callback()
def global_options(
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="TOML file (default ./listsync.toml)."),
    ] = None,
    log_format: Annotated[
        str, typer.Option("--log-format", help="Log lines as console text or JSON (json).")
    ] = "console",
    log_level: Annotated[
        str, typer.Option("--log-level", help="Minimum log level: DEBUG, INFO, WARNING, ERROR.")
    ] = "WARNING",
    _version_flag: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_version,
            is_eager=True,
            help="Print the versions of listsync and each installed adapter.",
        ),
    ] = False,
) -> None:
    """Syndicate real-estate listings from your CRM to property portals.

    --config, --log-format and --log-level may be given before or after the command name.
    """
    terminal.config = config
    terminal.configure(log_format, log_level)


def _register(target: typer.Typer, name: str, func: Any) -> None:
    target.command(name)(func)


def demo(
    workdir: Annotated[Path, typer.Option(help="Where state and reports go.")] = Path(
        "listsync-demo"
    ),
    changes: Annotated[int, typer.Option(help="Listings to change in the second run.")] = 3,
    sold: Annotated[int, typer.Option(help="Listings to mark sold in the third run.")] = 2,
    grace: GraceOpt = 10.0,
) -> None:
    """Serve every installed sandbox on loopback, sync the example listings to the write
    portals (then again with a few changes, then some sold), and pull from the read portals."""
    # `listsync.cli._demo` (and the sandboxes' web framework it loads) is imported only for
    # `demo`: every other command starts that much faster.
    from listsync.cli import _demo  # noqa: PLC0415

    _demo.run(workdir=workdir, changes=changes, sold=sold, grace=grace)


sandbox_app = typer.Typer(help="Run a portal's sandbox (a stateful fake of its API).")
config_app = typer.Typer(help="Inspect the configuration.")
state_app = typer.Typer(help="Operate on the state store.")
app.add_typer(sandbox_app, name="sandbox")
app.add_typer(config_app, name="config")
app.add_typer(state_app, name="state")

_register(app, "adapters", _basics.adapters_command)
_register(app, "schema", _basics.schema_command)
_register(app, "validate", _basics.validate_command)
_register(app, "plan", _engine.plan)
_register(app, "apply", _engine.apply)
_register(app, "refresh", _refresh.refresh)
_register(app, "status", _state.status)
_register(app, "demo", demo)
_register(app, "pull", _pull.pull)
_register(app, "new-adapter", _authoring.new_adapter)
app.command("worker", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})(
    _workers.worker
)
_register(app, "feature-matrix", _authoring.feature_matrix)
_register(sandbox_app, "serve", _sandbox.sandbox_serve_command)
_register(config_app, "show", _config.config_show)
_register(state_app, "forget", _state.state_forget)
_register(state_app, "upgrade", _upgrade.state_upgrade)
