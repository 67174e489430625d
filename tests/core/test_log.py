"""Logging set-up for the CLI: redaction of every secret, context binding, quiet httpx."""

from __future__ import annotations

import asyncio
import io
import json
import logging

import httpx
import pytest
import structlog
from pydantic import SecretStr

from listsync.log import bind_context, configure_logging, debug_enabled
from listsync.redact import MASK

pytestmark = pytest.mark.usefixtures("restore_logging")

TOKEN = "hemnet-tok-5f2b9c1d"
JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhY21lIn0.c2lnbmF0dXJl"
CLIENT_SECRET = "immo-secret-88af"
BOOLI_HASH = "3f786850e387550fdab836ed7e6dc881de23001b"
CALLER_ID = "acme-caller"
SECRETS = (TOKEN, JWT, CLIENT_SECRET, BOOLI_HASH, CALLER_ID)

BOOLI_URL = (
    f"https://api.booli.se/listings?q=nacka&callerId={CALLER_ID}&time=1700000000"
    f"&unique=0123456789abcdef&hash={BOOLI_HASH}"
)


def refuse() -> None:
    """Fail the way a token endpoint client might, quoting the secret it sent."""
    raise RuntimeError(f"refused client_secret={CLIENT_SECRET}")


def emit_secrets() -> None:
    """Log secrets every way the code base might: keys, nested bodies, text, URLs, objects."""
    log = structlog.stdlib.get_logger("listsync.test")
    log.info("token_renewed", token=TOKEN, authorization=f"Bearer {TOKEN}")
    log.info("oauth", body={"grant_type": "client_credentials", "client_secret": CLIENT_SECRET})
    log.info("jwt_seen", detail=f"got {JWT} from the token endpoint")
    log.info("booli_request", url=BOOLI_URL, params=[{"hash": BOOLI_HASH, "callerId": CALLER_ID}])
    log.info("settings", key=SecretStr(TOKEN), obj=httpx.URL(BOOLI_URL))
    log.warning(f"request failed: Authorization: Bearer {TOKEN}")
    try:
        refuse()
    except RuntimeError:
        log.exception("token_fetch_failed")
    logging.getLogger("authlib").warning("token response %s", {"access_token": TOKEN})


@pytest.mark.parametrize("fmt", ["console", "json"])
def test_secrets_never_reach_log_output(fmt: str) -> None:
    """Tokens, client secrets, JWTs, Booli hashes and callerIds are masked in both formats."""
    out = io.StringIO()
    configure_logging(fmt, stream=out)  # type: ignore[arg-type]  # parametrized literal
    emit_secrets()
    text = out.getvalue()
    assert "token_renewed" in text
    assert "token_fetch_failed" in text
    assert "RuntimeError" in text  # the traceback is kept, only the secret is masked
    assert MASK in text
    for secret in SECRETS:
        assert secret not in text, secret


def test_json_lines_are_json_with_context() -> None:
    """JSON format writes one object per line, with level, logger, timestamp and context."""
    out = io.StringIO()
    configure_logging("json", stream=out)
    with bind_context(run="r1", portal="hemnet", listing="SE-1"):
        structlog.stdlib.get_logger("listsync.engine").info("listing_published", remote_id="9")
    structlog.stdlib.get_logger("listsync.engine").info("after")
    first, after = (json.loads(line) for line in out.getvalue().splitlines())
    assert first["event"] == "listing_published"
    assert (first["run"], first["portal"], first["listing"]) == ("r1", "hemnet", "SE-1")
    assert first["level"] == "info"
    assert first["logger"] == "listsync.engine"
    assert "timestamp" in first
    assert "run" not in after


async def test_context_is_per_task() -> None:
    """Concurrent tasks each log their own listing; the run id reaches all of them."""
    out = io.StringIO()
    configure_logging("json", stream=out)
    log = structlog.stdlib.get_logger("listsync.engine")

    async def one(ref: str) -> None:
        with bind_context(listing=ref):
            await asyncio.sleep(0)
            log.info("listing_done", ref=ref)

    with bind_context(run="r2"):
        await asyncio.gather(*(one(f"L{i}") for i in range(5)))
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert len(lines) == 5
    assert all(line["listing"] == line["ref"] and line["run"] == "r2" for line in lines)


def test_level_filters_and_httpx_is_quiet() -> None:
    """At INFO, debug lines are dropped and httpx's per-request INFO lines are not written."""
    out = io.StringIO()
    configure_logging("console", level="INFO", stream=out)
    structlog.stdlib.get_logger("listsync.x").debug("too_detailed")
    with httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(200))) as http:
        http.get(BOOLI_URL)
    assert out.getvalue() == ""
    assert logging.getLogger("httpx").getEffectiveLevel() == logging.WARNING


def test_httpx_request_urls_are_redacted_when_its_logger_is_enabled() -> None:
    """If someone turns httpx's INFO log back on, the signed Booli URL is still masked."""
    out = io.StringIO()
    configure_logging("json", level="DEBUG", stream=out)
    logging.getLogger("httpx").setLevel(logging.INFO)
    with httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(200))) as http:
        http.get(BOOLI_URL)
    text = out.getvalue()
    assert "HTTP Request: GET https://api.booli.se/listings?q=nacka" in text
    assert BOOLI_HASH not in text
    assert CALLER_ID not in text


def test_unknown_level_is_refused() -> None:
    """A misspelt level is a ValueError naming it."""
    with pytest.raises(ValueError, match="LOUD"):
        configure_logging(level="LOUD")


def test_debug_enabled_follows_the_configuration() -> None:
    """The hot paths' check (HTTP layer and engine share it): nothing when structlog is not
    configured, the stdlib level when configured by `configure_logging`, everything while
    captured."""
    logger = logging.getLogger("listsync.http")
    structlog.reset_defaults()
    assert not debug_enabled(logger)
    configure_logging(level="INFO", stream=io.StringIO())
    assert not debug_enabled(logger)
    configure_logging(level="DEBUG", stream=io.StringIO())
    assert debug_enabled(logger)
    configure_logging(level="WARNING", stream=io.StringIO())
    with structlog.testing.capture_logs():
        assert debug_enabled(logger)
