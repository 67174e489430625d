"""Recorded HTTP (vcrpy cassettes) for adapters: scrubbing, scenarios, and the secret scan.

Cassettes live in `cassettes/<portal>/<scenario>.yaml`. They are recorded over real HTTP from
the portal's sandbox served on a FIXED loopback port (ports are part of the match), or from the
portal's real test environment when `LISTSYNC_<PORTAL>_BASE_URL` and the credentials are set
(the URIs are then rewritten to the loopback base so replay needs no change). CI replays them
with record mode `none` and no server. Re-record with `scripts/record_cassettes.py`.

Secrets are scrubbed at record time (and the same scrubbing runs on live requests at replay, so
matching is unaffected): credential headers, the signature query parameters a portal declares
(`secret_query_params`, removed from the URI), secret-keyed JSON/form fields in request and
response bodies (token responses, Hemnet's `authToken`), and the account's own values anywhere.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import yaml  # type: ignore[import-untyped]  # no stubs installed; only safe_load is used

from listsync.adapter import Capability, TargetState
from listsync.config import load_config
from listsync.redact import MASK, is_secret_key
from listsync.testing._checks import find_secrets
from listsync.testing._common import run
from listsync.testing._driver import ConformanceError, Driver
from listsync.testing._fixtures import AdapterFixtures

__all__ = [
    "CREDENTIAL_HEADERS",
    "ReadCassetteScenarios",
    "WriteCassetteScenarios",
    "make_vcr",
    "scan_cassette",
]

CREDENTIAL_HEADERS = ("authorization", "x-api-key", "cookie", "set-cookie", "proxy-authorization")


_NOT_SECRET_SUFFIXES = ("_type", "_in", "_at", "_url", "Type", "In", "At", "Url")


def _is_secret_field(key: str) -> bool:
    """Secret-keyed (`access_token`, `authToken`, `hash`), but not metadata like `token_type`."""
    return is_secret_key(key) and not key.endswith(_NOT_SECRET_SUFFIXES)


def _mask(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: MASK if isinstance(k, str) and _is_secret_field(k) and v else _mask(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_mask(v) for v in value]
    return value


def _scrub_text(text: str, secrets: list[str], identities: dict[str, str] | None = None) -> str:
    for secret in secrets:
        text = text.replace(secret, MASK)
    for value, placeholder in (identities or {}).items():
        text = text.replace(value, placeholder)
    return text


def _scrub_body(body: Any, secrets: list[str], identities: dict[str, str]) -> Any:
    if body is None:
        return None
    raw = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)
    try:
        data = json.loads(raw)
    except ValueError:
        pairs = parse_qsl(raw, keep_blank_values=True)
        if pairs and "=" in raw and " " not in raw:
            raw = urlencode([(k, MASK if _is_secret_field(k) and v else v) for k, v in pairs])
        return _scrub_text(raw, secrets, identities).encode()
    return _scrub_text(json.dumps(_mask(data)), secrets, identities).encode()


def make_vcr(
    *,
    secrets: list[str],
    identities: dict[str, str] | None = None,
    secret_query_params: tuple[str, ...] = (),
    uri_map: Sequence[tuple[str, str]] = (),
) -> Any:
    """A `vcr.VCR` that scrubs at record time and matches scrubbed requests at replay.

    Args:
        secrets: credential values, masked wherever they appear.
        identities: account values that differ per sandbox (key ids, client ids) -> a stable
            placeholder, so a replay with a fresh sandbox's account still matches.
    """
    identities = identities or {}
    import vcr  # noqa: PLC0415  (a testing extra)

    def before_request(request: Any) -> Any:
        for real, replayed in uri_map:
            if request.uri.startswith(real):
                request.uri = replayed + request.uri[len(real) :]
                break
        request.uri = _scrub_text(request.uri, secrets, identities)
        request.body = _scrub_body(request.body, secrets, identities)
        return request

    def before_response(response: dict[str, Any]) -> dict[str, Any]:
        body = response.get("body", {})
        if body.get("string"):
            body["string"] = _scrub_body(body["string"], secrets, identities)
        headers = response.get("headers", {})
        for name in list(headers):
            if name.lower() in CREDENTIAL_HEADERS:
                headers[name] = [MASK]
        return response

    return vcr.VCR(
        record_mode="none",
        filter_headers=[(h, MASK) for h in CREDENTIAL_HEADERS],
        filter_query_parameters=list(secret_query_params),
        before_record_request=before_request,
        before_record_response=before_response,
        decode_compressed_response=True,
        match_on=["method", "scheme", "host", "port", "path", "query", "body"],
    )


class _CassetteBase(AdapterFixtures):
    cassette_root: ClassVar[Path] = Path("cassettes")
    cassette_sandbox_options: ClassVar[dict[str, Any]] = {}

    def _record_mode(self, pytestconfig: Any) -> str:
        mode = str(pytestconfig.getoption("--record-mode", default="none") or "none")
        return "all" if mode == "rewrite" else mode

    @contextlib.contextmanager
    def _target(self, recording: bool) -> Iterator[tuple[dict[str, Any], list[tuple[str, str]]]]:
        """Settings to reach the portal, and the URI rewrites for a real environment."""
        if self.cassette_port is None:
            raise ConformanceError(f"{type(self).__name__} sets no cassette_port")
        loopback = f"http://127.0.0.1:{self.cassette_port}"
        cls = self.load_sandbox_class()
        sandbox = cls(**{**self.sandbox_options, **self.cassette_sandbox_options})
        replay_table = self.settings_table(sandbox, loopback)
        if recording and os.environ.get(f"LISTSYNC_{self.portal.upper()}_BASE_URL"):
            table = {**load_config().portals.get(self.portal, {}), **self.settings_overrides}
            yield table, _url_rewrites(table, replay_table)
            return
        if not recording:
            yield replay_table, []
            return
        with sandbox.serve(port=self.cassette_port) as url:
            yield self.settings_table(sandbox, url), []

    def _with_cassette(self, pytestconfig: Any, scenario: str, body: Callable[[Any], Any]) -> Any:
        mode = self._record_mode(pytestconfig)
        path = Path(pytestconfig.rootpath) / self.cassette_root / self.portal / f"{scenario}.yaml"
        if mode == "none" and not path.exists():
            raise ConformanceError(f"{path} is missing; record it: scripts/record_cassettes.py")
        if mode == "all":
            path.unlink(missing_ok=True)
        with self._target(mode != "none") as (table, uri_map):
            recorder = make_vcr(
                secrets=self.secret_values(table),
                identities=self._identities(table),
                secret_query_params=self.secret_query_params,
                uri_map=uri_map,
            )
            cls = self.load_adapter_class()
            adapter_table = dict(table)

            async def scenario_run() -> Any:
                adapter = self._cassette_adapter(cls, adapter_table)
                try:
                    return await body(adapter)
                finally:
                    await adapter.aclose()

            with recorder.use_cassette(str(path), record_mode=mode):
                return run(scenario_run())

    def _identities(self, table: dict[str, Any]) -> dict[str, str]:
        """Account values other than secrets (key ids, client ids) -> `<field>`."""
        fields = self.load_adapter_class().account_model.model_fields
        secrets = set(self.secret_values(table))
        return {
            str(table[name]): f"<{name}>"
            for name in fields
            if isinstance(table.get(name), str)
            and len(table[name]) >= 6
            and table[name] not in secrets
        }

    def _cassette_adapter(self, cls: type[Any], table: dict[str, Any]) -> Any:
        from listsync.config import parse_portal_config  # noqa: PLC0415  (local helper)

        config = parse_portal_config(self.portal, table, cls.settings_model, cls.account_model)
        account = next(iter(config.accounts.values()))
        return cls(
            config.settings,
            account,
            account_name=self.account_name,
            transport=httpx.AsyncHTTPTransport(),
            credential_store=self.store_credentials,
        )


class WriteCassetteScenarios(_CassetteBase):
    """Recorded scenarios for write adapters: `lifecycle` (create, update, sold, delete)."""

    def test_cassette_lifecycle(self, pytestconfig: Any) -> None:
        """The listing lifecycle replays from `cassettes/<portal>/lifecycle.yaml`."""
        listing = next(iter(self.valid_listings()))

        async def scenario(adapter: Any) -> list[str]:
            driver = Driver(adapter)
            steps = [op.kind.value for op in await driver.sync(listing)]
            if Capability.UPDATE in adapter.capabilities:
                steps += [op.kind.value for op in await driver.sync(self.changed_listing(listing))]
            if Capability.MARK_SOLD in adapter.capabilities:
                steps += [op.kind.value for op in await driver.sync(self.sold_listing(listing))]
            if Capability.DELETE in adapter.capabilities:
                steps += [op.kind.value for op in await driver.sync(listing, TargetState.ABSENT)]
            record = await adapter.fetch(listing.external_ref, None)
            steps.append("fetched" if record is not None else "absent")
            return steps

        steps = self._with_cassette(pytestconfig, "lifecycle", scenario)
        if not steps or steps[0] != "create":
            raise ConformanceError(f"the recorded lifecycle did not start with create: {steps}")


class ReadCassetteScenarios(_CassetteBase):
    """Recorded scenarios for read adapters: `search` (every page) and `get`."""

    cassette_seed: ClassVar[int] = 12

    def test_cassette_search(self, pytestconfig: Any) -> None:
        """A paged search and a get replay from `cassettes/<portal>/search.yaml`."""

        async def scenario(adapter: Any) -> list[str]:
            refs = [listing.external_ref async for listing in adapter.search(self.search_query())]
            if refs and Capability.READ in adapter.capabilities:
                found = await adapter.get(self.remote_id_for(refs[0]))
                refs.append("got" if found is not None else "missing")
            return refs

        refs = self._with_cassette(pytestconfig, "search", scenario)
        if len(refs) < 2:
            raise ConformanceError(f"the recorded search found too little: {refs}")

    def remote_id_for(self, external_ref: str) -> str:
        return external_ref


def _url_rewrites(real: dict[str, Any], replay: dict[str, Any]) -> list[tuple[str, str]]:
    """Each URL setting of the real environment -> the same setting at replay (longest
    first), so cassettes recorded against a portal replay against the loopback base."""
    pairs = [
        (str(real[key]).rstrip("/"), str(replay[key]).rstrip("/"))
        for key in real
        if key.endswith("url") and isinstance(real[key], str) and key in replay
    ]
    return sorted(pairs, key=lambda pair: len(pair[0]), reverse=True)


_HEX40 = re.compile(r"^[0-9a-fA-F]{40}$")


def scan_cassette(path: Path, secrets: Sequence[str] = ()) -> list[str]:
    """Every secret-looking thing in one cassette file, described (never quoted)."""
    text = path.read_text(encoding="utf-8")
    found = [f"{path.name}: {item}" for item in find_secrets([text], list(secrets))]
    data = yaml.safe_load(text) or {}
    for number, interaction in enumerate(data.get("interactions", [])):
        request = interaction.get("request", {})
        where = f"{path.name} interaction {number}"
        for name, values in (request.get("headers") or {}).items():
            if name.lower() in CREDENTIAL_HEADERS and any(v != MASK for v in values):
                found.append(f"{where}: request header {name} is not scrubbed")
        query = parse_qsl(urlsplit(request.get("uri", "")).query)
        for name, value in query:
            if (is_secret_key(name) and value and value != MASK) or _HEX40.match(value):
                found.append(f"{where}: query parameter {name} holds a secret-looking value")
        response_body = (interaction.get("response", {}).get("body") or {}).get("string")
        for body in (request.get("body"), response_body):
            found += [f"{where}: {item}" for item in _secret_fields(body)]
    return found


def _secret_fields(body: Any) -> list[str]:
    if not body:
        return []
    raw = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)
    try:
        data = json.loads(raw)
    except ValueError:
        return []
    found: list[str] = []

    def walk(value: Any, key: str = "") -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                secret = isinstance(k, str) and _is_secret_field(k)
                if secret and isinstance(v, str) and v and v != MASK:
                    found.append(f"body field {k!r} is not scrubbed")
                walk(v, k)
        elif isinstance(value, list):
            for item in value:
                walk(item, key)

    walk(data)
    return found
