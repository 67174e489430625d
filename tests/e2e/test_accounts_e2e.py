"""Many agencies per vendor against the real Hemnet and Immowelt sandboxes (issue 9).

Three Swedish agencies have their own Hemnet key and two German agencies their own Immowelt
client; `listsync apply` runs as a subprocess against the sandboxes served on loopback. The
request logs (`principal`: the key id or client id a request used) and the records each
sandbox account holds are the evidence.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import pytest

from listsync.sandbox import RecordedRequest, Sandbox
from listsync_hemnet.sandbox import HemnetSandbox
from listsync_immowelt.sandbox import ImmoweltSandbox

from .conftest import (
    AGENCY_ACCOUNTS,
    account_tables,
    agency_rows,
    run_cli,
    to_toml,
    write_jsonl,
)

pytestmark = pytest.mark.slow

ORPHAN_REF = "ORPHAN-SE-1"
ORPHAN_AGENCY = "se-utan-konto"


@dataclass
class MultiAgencyRun:
    """One `listsync apply` of every agency's listings, and what it left behind."""

    sandboxes: dict[str, Sandbox]
    rows: list[dict[str, Any]]
    report: dict[str, Any]
    status: dict[str, Any]
    returncode: int

    def refs_of(self, portal: str, agency: str) -> set[str]:
        return {
            r["external_ref"]
            for r in self.rows
            if r["agency"]["external_ref"] == agency and portal in r["portals"]
        }


def _orphan(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """A valid Swedish listing whose agency has no Hemnet account (and there is no default)."""
    template = next(r for r in rows if r["portals"] == ["hemnet"])
    orphan = copy.deepcopy(template)
    orphan["external_ref"] = ORPHAN_REF
    orphan["agency"]["external_ref"] = ORPHAN_AGENCY
    return orphan


@pytest.fixture(scope="module")
def multi_agency(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MultiAgencyRun]:
    """Serve both sandboxes, configure one account per agency, apply once, read the status."""
    workdir = tmp_path_factory.mktemp("accounts")
    sandboxes: dict[str, Sandbox] = {"hemnet": HemnetSandbox(), "immowelt": ImmoweltSandbox()}
    with ExitStack() as stack:
        portals = {
            name: account_tables(
                name, sandbox, stack.enter_context(sandbox.serve()), AGENCY_ACCOUNTS[name]
            )
            for name, sandbox in sandboxes.items()
        }
        state = f"sqlite:///{workdir / 'state.sqlite'}"
        config = workdir / "listsync.toml"
        config.write_text(to_toml(state, portals), encoding="utf-8")
        rows = agency_rows(3)
        rows.append(_orphan(rows))
        listings = write_jsonl(workdir / "listings.jsonl", rows)
        report_path = workdir / "report.json"
        applied = run_cli(
            "apply", listings, "--config", config, "--report", report_path, cwd=workdir
        )
        assert "Traceback" not in applied.stderr, applied.stderr[-3000:]
        shown = run_cli("status", "--config", config, "--json", cwd=workdir)
        assert shown.returncode == 0, shown.stderr[-2000:]
        yield MultiAgencyRun(
            sandboxes=sandboxes,
            rows=rows,
            report=json.loads(report_path.read_text(encoding="utf-8")),
            status=json.loads(shown.stdout),
            returncode=applied.returncode,
        )


def _mentions(request: RecordedRequest, names: set[str], ids: dict[str, str]) -> set[str]:
    """The listing refs (or agency refs) a request names in its path, query or body; remote
    listing ids in the path count as the ref they belong to."""
    text = " ".join([request.path, json.dumps(request.query), json.dumps(request.body)])
    found = {n for n in names if re.search(re.escape(n) + r"(?![0-9A-Za-z])", text)}
    return found | {ref for remote, ref in ids.items() if remote in request.path}


def _hemnet_owner(run: MultiAgencyRun) -> tuple[dict[str, str], dict[str, str]]:
    """(key id -> agency, remote listing id -> listing ref) for the Hemnet sandbox."""
    sandbox = run.sandboxes["hemnet"]
    assert isinstance(sandbox, HemnetSandbox)
    owner = {
        key["id"]: agency
        for agency, account in AGENCY_ACCOUNTS["hemnet"].items()
        for key in sandbox.key_views(account)
    }
    ids = {str(v["id"]): str(v["externalId"]) for v in sandbox.listings()}
    return owner, ids


def test_every_request_carries_the_credentials_of_the_listings_own_agency(
    multi_agency: MultiAgencyRun,
) -> None:
    """Each Hemnet request is made with the key of the agency whose listing (or broker
    agency) it names, and each Immowelt API request with that agency's client."""
    run = multi_agency
    hemnet = run.sandboxes["hemnet"]
    owner, ids = _hemnet_owner(run)
    agency_of = {r["external_ref"]: r["agency"]["external_ref"] for r in run.rows}
    names = set(agency_of) | set(AGENCY_ACCOUNTS["hemnet"])
    checked = 0
    for request in hemnet.requests:
        assert request.principal in owner, (request.method, request.path)
        for name in _mentions(request, names, ids):
            assert agency_of.get(name, name) == owner[request.principal], (request.path, name)
            checked += 1
    assert checked > 3 * len(AGENCY_ACCOUNTS["hemnet"]) * 3  # creates, images, publish, ...
    assert set(owner.values()) == {owner[r.principal] for r in hemnet.requests if r.principal}

    immowelt = run.sandboxes["immowelt"]
    client_of = {
        f"{account}-client": agency for agency, account in AGENCY_ACCOUNTS["immowelt"].items()
    }
    api = [r for r in immowelt.requests if r.path.startswith("/v1/")]
    assert api
    for request in api:
        assert request.principal in client_of, (request.method, request.path)
        for ref in _mentions(request, set(agency_of), {}):
            assert agency_of[ref] == client_of[request.principal], (request.path, ref)
    tokens = [r for r in immowelt.requests if r.path == "/oauth/token"]
    assert {r.body["client_id"] for r in tokens} == set(client_of)


def test_no_listing_appears_under_another_agencys_account(multi_agency: MultiAgencyRun) -> None:
    """Every listing converged, and each sandbox account holds exactly its own agency's
    listings (once), none of another agency's."""
    run = multi_agency
    outcomes = {(o["external_ref"], o["portal"]): o for o in run.report["outcomes"]}
    for (ref, portal), outcome in outcomes.items():
        if ref != ORPHAN_REF:
            assert outcome["outcome"] == "converged", outcome
            agency = next(r["agency"]["external_ref"] for r in run.rows if r["external_ref"] == ref)
            assert outcome["account"] == AGENCY_ACCOUNTS[portal][agency]
    hemnet, immowelt = run.sandboxes["hemnet"], run.sandboxes["immowelt"]
    assert isinstance(hemnet, HemnetSandbox)
    assert isinstance(immowelt, ImmoweltSandbox)
    for agency, account in AGENCY_ACCOUNTS["hemnet"].items():
        held = [v["externalId"] for v in hemnet.listings(account=account)]
        assert sorted(held) == sorted(run.refs_of("hemnet", agency)), account
    for agency, account in AGENCY_ACCOUNTS["immowelt"].items():
        assert set(immowelt.listings(account)) == run.refs_of("immowelt", agency), account
    assert hemnet.listings(account="default") == []
    assert immowelt.listings("default") == {}
    by_account = run.report["summary"]["by_account"]
    assert set(by_account["hemnet"]) >= set(AGENCY_ACCOUNTS["hemnet"].values())
    assert set(by_account["immowelt"]) == set(AGENCY_ACCOUNTS["immowelt"].values())


def test_agency_without_an_account_is_blocked_on_its_canonical_path_and_never_sent(
    multi_agency: MultiAgencyRun,
) -> None:
    """A listing whose agency has no Hemnet account is blocked with an issue on
    `agency.external_ref` (report and `listsync status`), the run exits 1, and no request to
    any sandbox ever names it."""
    run = multi_agency
    assert run.returncode == 1
    (outcome,) = [o for o in run.report["outcomes"] if o["external_ref"] == ORPHAN_REF]
    assert outcome["outcome"] == "blocked"
    assert [i["path"] for i in outcome["issues"]] == ["agency.external_ref"]
    assert ORPHAN_AGENCY in outcome["issues"][0]["message"]
    (record,) = [s for s in run.status["records"] if s["external_ref"] == ORPHAN_REF]
    assert record["outcome"] == "blocked"
    assert record["account"] is None
    assert [i["path"] for i in record["issues"]] == ["agency.external_ref"]
    for sandbox in run.sandboxes.values():
        for request in sandbox.requests:
            text = json.dumps([request.path, request.query, request.body])
            assert ORPHAN_REF not in text, request.path
            assert ORPHAN_AGENCY not in text, request.path
