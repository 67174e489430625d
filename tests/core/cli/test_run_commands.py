"""The run commands' terminal side: outcomes shown, read-only commands, `state forget`."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from listsync.cli import app
from listsync.cli._outcomes import Problems, summary_table
from listsync.cli._refresh import drift_kind
from listsync.sync import EntryResult, ListingState, Outcome, RunReport, open_state_store
from listsync.sync._plan import FailedEntry

from .conftest import FakeRegistry


def _result(
    ref: str, outcome: Outcome, *, account: str = "acme", done: tuple[str, ...] = ()
) -> EntryResult:
    entry = FailedEntry(ref, "hemnet", account, "X", "x", line=int(ref.rsplit("-", 1)[-1]))
    error = ("PortalUnavailableError", "hemnet account 'acme' is unavailable (breaker open)")
    failing = outcome is Outcome.UNAVAILABLE
    return EntryResult(
        entry,
        outcome,
        done=done,
        error_class=error[0] if failing else None,
        error_message=error[1] if failing else None,
        remote_id="r-1",
    )


def _printed(problems: Problems) -> list[str]:
    console = Console(width=300, record=True, file=io.StringIO())
    problems.print(console, None)
    return [line for line in console.export_text().splitlines() if line]


def test_unavailable_listings_are_one_line_per_account_with_a_count() -> None:
    """14 unavailable listings of one account and one of another: two lines, the first with
    its count and the first listing, the single one as an ordinary problem line."""
    problems = Problems(limit=5)
    for n in range(14):
        problems.add(_result(f"A-{n + 1}", Outcome.UNAVAILABLE))
    problems.add(_result("B-3", Outcome.UNAVAILABLE, account="other"))
    problems.add(_result("C-4", Outcome.UNCHANGED))
    lines = _printed(problems)
    assert lines[0] == "Problems:"
    assert len(lines) == 3, lines
    assert lines[1].startswith("hemnet/acme: 14 listings unavailable (first A-1): ")
    assert "PortalUnavailableError" in lines[1]
    assert "the next run retries them" in lines[1]
    assert lines[2].startswith("line 3 hemnet/other B-3 unavailable: PortalUnavailableError")
    assert problems.more == 0


def test_summary_table_counts_the_new_outcomes() -> None:
    """unavailable, drifted and gone get their own columns, titled by the command."""
    report = RunReport("run1", keep_results=False)
    for outcome in (Outcome.UNAVAILABLE, Outcome.DRIFTED, Outcome.GONE, Outcome.GONE):
        report.add(_result("A-1", outcome))
    console = Console(width=200, record=True, file=io.StringIO())
    console.print(summary_table(report, "refresh"))
    text = console.export_text()
    assert "listsync refresh (run run1)" in text
    header = next(line for line in text.splitlines() if "portal" in line)
    assert [w for w in ("unavailable", "drifted", "gone") if w in header] == [
        "unavailable",
        "drifted",
        "gone",
    ]
    assert not report.converged  # unavailable counts as failing


@pytest.mark.parametrize(
    ("outcome", "done", "expected"),
    [
        (Outcome.DRIFTED, ("drifted: fields askingPrice",), ("drifted", "fields askingPrice")),
        (Outcome.DRIFTED, ("adopted",), ("adopted", "remote id r-1")),
        (Outcome.GONE, ("gone",), ("gone", "no longer on the portal: an apply re-creates it")),
    ],
)
def test_drift_kind_names_what_refresh_found(
    outcome: Outcome, done: tuple[str, ...], expected: tuple[str, str]
) -> None:
    assert drift_kind(_result("A-1", outcome, done=done)) == expected


# -- read-only commands never create a store -----------------------------------------------
@pytest.fixture
def nowhere(tmp_path: Path) -> tuple[str, Path]:
    folder = tmp_path / "nope"
    return f"sqlite:///{folder / 'x.sqlite'}", folder


def test_status_on_a_missing_store_creates_nothing(
    runner: CliRunner,
    fake_registry: type[FakeRegistry],
    nowhere: tuple[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`status --state` naming a store that does not exist: one line, an empty answer, exit
    0, and no file or folder made (table and JSON alike)."""
    monkeypatch.chdir(tmp_path)
    url, folder = nowhere
    table = runner.invoke(app, ["status", "--state", url])
    assert table.exit_code == 0, table.output
    assert f"no state store at {folder / 'x.sqlite'} yet" in table.stderr
    assert table.stdout == ""
    as_json = runner.invoke(app, ["status", "--state", url, "--json"])
    assert as_json.exit_code == 0
    assert json.loads(as_json.stdout) == {"records": []}
    assert not folder.exists()


def test_validate_with_a_missing_store_creates_nothing(  # noqa: PLR0917  (fixtures)
    runner: CliRunner,
    fake_registry: type[FakeRegistry],
    nowhere: tuple[str, Path],
    tmp_path: Path,
    root: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`validate` with a configured state URL that does not exist creates nothing."""
    monkeypatch.chdir(tmp_path)
    url, folder = nowhere
    monkeypatch.setenv("LISTSYNC_STATE_URL", url)
    file = tmp_path / "in.jsonl"
    file.write_text((root / "examples" / "listings.jsonl").read_text().splitlines()[0] + "\n")
    result = runner.invoke(app, ["validate", str(file)])
    assert result.exit_code in (0, 1), result.output
    assert not folder.exists()


def test_status_on_a_damaged_store_is_one_line_exit_2(
    runner: CliRunner, fake_registry: type[FakeRegistry], tmp_path: Path
) -> None:
    path = tmp_path / "state.sqlite"
    path.write_bytes(b"not a database at all" * 100)
    result = runner.invoke(app, ["status", "--state", f"sqlite:///{path}"])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert str(path) in result.stderr


# -- state forget ----------------------------------------------------------------------------
@pytest.fixture
def seeded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A state store knowing listing K-1 on acme/default and acme/north, and K-2."""
    monkeypatch.chdir(tmp_path)  # no listsync.toml: no portal configured
    url = f"sqlite:///{tmp_path / 'state.sqlite'}"
    store = open_state_store(url)
    for account, ref in (("default", "K-1"), ("north", "K-1"), ("default", "K-2")):
        state = ListingState("acme", account, ref, remote_id=f"r-{account}-{ref}")
        store.save(state.with_sent(None, outcome=Outcome.CONVERGED))
    store.close()
    return url


def _known(url: str) -> dict[tuple[str, str], str | None]:
    store = open_state_store(url, create=False)
    try:
        return {(s.account, s.external_ref): s.remote_id for s in store.records()}
    finally:
        store.close()


def test_state_forget_forgets_the_matching_accounts_only(
    runner: CliRunner, fake_registry: type[FakeRegistry], seeded: str
) -> None:
    """`state forget K-1 --account north` forgets that one record (printed), keeps the others
    and the audit trail says so; again: nothing matched, exit 1."""
    result = runner.invoke(app, ["state", "forget", "K-1", "--account", "north", "--state", seeded])
    assert result.exit_code == 0, result.output
    assert result.stdout == "forgot K-1 on acme/north\n"
    assert _known(seeded) == {
        ("default", "K-1"): "r-default-K-1",
        ("north", "K-1"): None,
        ("default", "K-2"): "r-default-K-2",
    }
    store = open_state_store(seeded, create=False)
    assert [(a.key.account, a.operation) for a in store.audit("K-1")] == [("north", "forget")]
    store.close()
    again = runner.invoke(app, ["state", "forget", "K-1", "-a", "north", "--state", seeded])
    assert again.exit_code == 1
    assert "nothing to forget" in again.stderr


def test_state_forget_every_account_and_unknown_refs(
    runner: CliRunner, fake_registry: type[FakeRegistry], seeded: str
) -> None:
    result = runner.invoke(app, ["state", "forget", "K-1", "--portal", "acme", "--state", seeded])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == ["forgot K-1 on acme/default", "forgot K-1 on acme/north"]
    assert _known(seeded)[("default", "K-2")] == "r-default-K-2"
    unknown = runner.invoke(app, ["state", "forget", "NOPE", "--state", seeded])
    assert unknown.exit_code == 1
    assert "knows nothing of NOPE" in unknown.stderr


def test_state_forget_never_creates_a_store(
    runner: CliRunner,
    fake_registry: type[FakeRegistry],
    nowhere: tuple[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    url, folder = nowhere
    result = runner.invoke(app, ["state", "forget", "K-1", "--state", url])
    assert result.exit_code == 1
    assert "no state store at" in result.stderr
    assert not folder.exists()


def test_state_forget_while_a_run_holds_the_store_exits_2(
    runner: CliRunner, fake_registry: type[FakeRegistry], seeded: str
) -> None:
    """A run holding the writer lease: exit 2 naming it, nothing forgotten."""
    holder = open_state_store(seeded)
    try:
        with holder.writer("run-abc"):
            result = runner.invoke(app, ["state", "forget", "K-1", "--state", seeded])
    finally:
        holder.close()
    assert result.exit_code == 2, result.output
    assert "run-abc" in result.stderr or "locked" in result.stderr
    assert _known(seeded)[("north", "K-1")] == "r-north-K-1"
