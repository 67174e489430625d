"""`listsync demo`: the whole flow against every installed sandbox, on loopback only.

Generic over plugins: every entry point in `listsync.sandboxes` whose adapter can create
listings is served on 127.0.0.1 and receives the bundled example listings; every one whose
adapter can search is pulled from. No portal is named here, no credentials are needed (the
sandboxes hand out their own), and nothing is left running.

A sandbox may define `demo_query` (a mapping) for the search the demo makes; otherwise a
free-text `q` search is used.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from listsync.adapter import Capability
from listsync.cli._outcomes import Problems, summary_table
from listsync.cli._progress import make_progress
from listsync.cli._terminal import terminal
from listsync.config import Config, parse_portal_config
from listsync.errors import InvalidListingError, ListsyncError
from listsync.io import bundled_examples, read_listings
from listsync.model import Listing, ListingStatus, Money, Sale
from listsync.registry import SANDBOX_GROUP, Registry
from listsync.sandbox import Sandbox
from listsync.sync import ReportWriter, RunReport
from listsync.syndicator import Syndicator

__all__ = ["run"]

DEFAULT_QUERY = {"q": "stockholm"}
out = Console(highlight=False)


@dataclass
class _Portal:
    name: str
    adapter: type[Any]
    sandbox: Sandbox
    base_url: str = ""

    @property
    def capabilities(self) -> frozenset[Capability]:
        return frozenset(getattr(self.adapter, "capabilities", frozenset()))


def _discover() -> list[_Portal]:
    adapters, sandboxes = Registry(), Registry(SANDBOX_GROUP)
    found = []
    for name in sandboxes.names():
        if name not in adapters.names():
            continue
        try:
            found.append(_Portal(name, adapters.get(name), sandboxes.get(name)()))
        except ListsyncError as exc:
            terminal.note(f"skipping {name}: {exc}", style="yellow")
    return found


def _examples() -> Path:
    bundled = bundled_examples()
    if bundled.exists():
        return bundled
    return Path(__file__).resolve().parents[4] / "examples" / "listings.jsonl"


def _load(path: Path) -> tuple[list[Listing], int]:
    listings, invalid = [], 0
    for _line, item in read_listings(path):
        if isinstance(item, InvalidListingError):
            invalid += 1
        else:
            listings.append(item)
    return listings, invalid


def run(*, workdir: Path, changes: int, sold: int, grace: float) -> None:
    """The `demo` command (its options are declared in `listsync.cli._app`, so that only
    `demo` imports this module): serve every installed sandbox on loopback, sync the example
    listings to the write portals (then again with `changes` of them changed, then `sold`
    sold), and pull from the read portals; state and reports in `workdir`."""
    portals = _discover()
    writers = [p for p in portals if Capability.CREATE in p.capabilities]
    readers = [p for p in portals if Capability.SEARCH in p.capabilities]
    if not writers and not readers:
        raise typer.Exit(_nothing_installed())
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    listings, invalid = _load(_examples())
    out.print(
        f"[bold]listsync demo[/]: {len(listings)} example listings ({invalid} invalid lines), "
        f"write portals: {', '.join(p.name for p in writers) or 'none'}, "
        f"read portals: {', '.join(p.name for p in readers) or 'none'}"
    )
    with ExitStack() as stack:
        for portal in portals:
            portal.base_url = stack.enter_context(portal.sandbox.serve())
        asyncio.run(
            _flow(
                workdir,
                writers=writers,
                readers=readers,
                listings=listings,
                changes=changes,
                sold=sold,
                grace=grace,
            )
        )
    out.print(f"\nstate: {workdir / 'state.sqlite'}")
    out.print(f"reports: {', '.join(str(p) for p in sorted(workdir.glob('report-*.json')))}")
    out.print(
        "sandboxes stopped; try `listsync status --state sqlite:///"
        + f"{workdir / 'state.sqlite'} --listing <ref>`"
    )


def _nothing_installed() -> int:
    terminal.note("no sandbox with an adapter is installed; install a listsync adapter package")
    return 1


async def _flow(
    workdir: Path,
    *,
    writers: list[_Portal],
    readers: list[_Portal],
    listings: list[Listing],
    changes: int,
    sold: int,
    grace: float = 10.0,
) -> None:
    names = {p.name for p in writers}
    ours = [item for item in listings if names & set(item.portals)]
    if writers:
        config = Config(
            state_url=f"sqlite:///{workdir / 'state.sqlite'}",
            portals={p.name: p.sandbox.client_settings(p.base_url) for p in writers},
        )
        kept: dict[tuple[str, str], Mapping[str, str]] = {}

        async def keep_in_memory(portal: str, account: str, secrets: Mapping[str, str]) -> None:
            kept[(portal, account)] = dict(secrets)  # sandbox keys die with the demo

        async with Syndicator(
            config=config, concurrency=32, credential_store=keep_in_memory, grace=grace
        ) as syndicator:
            await _write_runs(
                syndicator, workdir, writers=writers, listings=ours, changes=changes, sold=sold
            )
    for reader in readers:
        await _pull(reader)


async def _write_runs(
    syndicator: Syndicator,
    workdir: Path,
    *,
    writers: list[_Portal],
    listings: list[Listing],
    changes: int,
    sold: int,
) -> None:
    out.rule("1. first apply: every example listing")
    await _run(syndicator, workdir, writers, listings, 1)
    out.rule("2. apply again with nothing changed")
    await _run(syndicator, workdir, writers, listings, 2)
    changed = _change_prices(listings, changes)
    out.rule(f"3. {len(changed)} listings changed their price")
    listings = [changed.get(item.external_ref, item) for item in listings]
    await _run(syndicator, workdir, writers, listings, 3)
    marked = _mark_sold(listings, sold, exclude=set(changed))
    out.rule(f"4. {len(marked)} listings sold")
    listings = [marked.get(item.external_ref, item) for item in listings]
    await _run(syndicator, workdir, writers, listings, 4)


async def _run(
    syndicator: Syndicator,
    workdir: Path,
    writers: list[_Portal],
    listings: list[Listing],
    number: int,
) -> RunReport:
    before = {p.name: len(p.sandbox.write_requests()) for p in writers}
    progress = make_progress(len(listings))
    path = workdir / f"report-{number}.json"
    writer = ReportWriter(path)
    problems = Problems(limit=5)

    def on_result(result: Any) -> None:
        progress.add(result)
        problems.add(result)
        writer.add(result)

    try:
        report = await syndicator.run(
            progress.counted(listings), on_result=on_result, keep_results=False
        )
    finally:
        progress.close()
    writer.close(report)
    terminal.summarise()
    out.print(summary_table(report))
    problems.print(out, path)
    for p in writers:
        sent = len(p.sandbox.write_requests()) - before[p.name]
        out.print(f"  {p.name}: {sent} write requests")
    return report


def _change_prices(listings: list[Listing], n: int) -> dict[str, Listing]:
    picked = [i for i in listings if i.asking_price and i.status is ListingStatus.FOR_SALE][:n]
    out_: dict[str, Listing] = {}
    for item in picked:
        assert item.asking_price is not None  # noqa: S101  (filtered above)
        price = Money(
            amount=(item.asking_price.amount * Decimal("1.05")).quantize(Decimal(1)),
            currency=item.asking_price.currency,
        )
        out_[item.external_ref] = item.model_copy(update={"asking_price": price})
        out.print(f"  {item.external_ref}: {item.asking_price.amount} -> {price.amount}")
    return out_


def _mark_sold(listings: list[Listing], n: int, *, exclude: set[str]) -> dict[str, Listing]:
    import datetime as dt  # noqa: PLC0415

    picked = (
        [
            i
            for i in listings
            if i.asking_price
            and i.status is ListingStatus.FOR_SALE
            and i.external_ref not in exclude
        ][-n:]
        if n
        else []
    )
    marked = {}
    for item in picked:
        assert item.asking_price is not None  # noqa: S101  (filtered above)
        sale = Sale(price=item.asking_price, date=dt.date(2026, 11, 1), price_public=False)
        marked[item.external_ref] = item.model_copy(
            update={"status": ListingStatus.SOLD, "sale": sale}
        )
        out.print(f"  {item.external_ref}: sold for {item.asking_price.amount} (price private)")
    return marked


async def _pull(reader: _Portal, page: int = 8) -> None:
    out.rule(f"pull: a page of listings from {reader.name}")
    table_in = reader.sandbox.client_settings(reader.base_url)
    cls = reader.adapter
    parsed = parse_portal_config(reader.name, table_in, cls.settings_model, cls.account_model)
    adapter = cls(parsed.settings, parsed.accounts["default"], account_name="default")
    query = dict(getattr(reader.sandbox, "demo_query", DEFAULT_QUERY))
    table = Table(title=f"{reader.name}: first {page} results for {query}")
    for column in ("ref", "category", "city", "price", "living area", "rooms"):
        table.add_column(column)
    try:
        count = 0
        async for item in adapter.search(query):
            price = item.asking_price
            table.add_row(
                item.external_ref,
                item.category.value,
                item.address.city,
                f"{price.amount} {price.currency}" if price else "-",
                str(item.living_area or "-"),
                str(item.rooms or "-"),
            )
            count += 1
            if count >= page:
                break
    except ListsyncError as exc:
        terminal.note(f"{reader.name}: {exc}", style="yellow")
    finally:
        await adapter.aclose()
    out.print(table)
