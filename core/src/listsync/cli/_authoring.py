"""Commands for adapter authors: `new-adapter` (scaffold) and `feature-matrix`.

Exit codes: 0 success; 1 `feature-matrix --check` found the file stale; 2 a usage error
(bad adapter name, existing output directory).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from listsync.cli._terminal import terminal
from listsync.registry import Registry
from listsync.scaffold import AuthKind, ScaffoldError, generate

__all__ = ["DEFAULT_MATRIX", "feature_matrix", "new_adapter"]

DEFAULT_MATRIX = Path("docs/feature-matrix.md")
"""The file `feature-matrix --check` compares when no --output is given (run from the repo)."""


def new_adapter(
    name: Annotated[str, typer.Argument(help="Adapter (entry-point) name, e.g. `acme`.")],
    auth: Annotated[
        AuthKind, typer.Option("--auth", help="How the portal authenticates requests.")
    ] = AuthKind.BEARER,
    read_only: Annotated[
        bool, typer.Option("--read-only", help="A read adapter (search/get) instead of write.")
    ] = False,
    output: Annotated[
        Path, typer.Option("--output", help="Directory to create `listsync-NAME` in.")
    ] = Path(),
) -> None:
    """Create a ready-to-install adapter distribution `listsync-NAME` that passes the
    conformance kit against its own sandbox."""
    try:
        root = generate(name, auth=auth, read_only=read_only, output=output)
    except ScaffoldError as exc:
        raise terminal.fail(str(exc)) from None
    typer.echo(f"created {root}")
    typer.echo(f"next: pip install -e '{root}[testing]' && pytest {root / 'tests'}")


def feature_matrix(
    output: Annotated[
        Path | None,
        typer.Option("--output", help="Write the markdown here (default: stdout)."),
    ] = None,
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            help=f"Exit 1 when the file (--output, default {DEFAULT_MATRIX}) is stale.",
        ),
    ] = False,
) -> None:
    """Render which installed adapter declares which capability (markdown)."""
    from listsync.testing.matrix import render_matrix  # noqa: PLC0415  (keeps the kit off startup)

    text = render_matrix(Registry())
    if check:
        output = output or DEFAULT_MATRIX
        current = output.read_text(encoding="utf-8") if output.exists() else ""
        if current != text:
            typer.echo(f"{output} is stale; run `listsync feature-matrix --output {output}`")
            raise typer.Exit(1)
        typer.echo(f"{output} is current")
        return
    if output is None:
        typer.echo(text, nl=False)
        return
    output.write_text(text, encoding="utf-8")
    typer.echo(f"wrote {output}")
