"""Logging set-up for the `listsync` command (and for applications that want the same).

The library itself never configures logging: its modules call `listsync.log.get_logger(__name__)`,
a structlog logger over a standard-library logger. Unconfigured, lines go to the standard
`logging` module, where the `listsync` logger has a `NullHandler` (and so does each adapter's
package logger): an application that configures nothing sees nothing on standard output, and
one that configures `logging` gets listsync's lines like any other library's. The CLI calls
`configure_logging()` once, which routes
structlog and the standard library (httpx, authlib, stevedore, stamina, uvicorn) through one
`ProcessorFormatter`, so every line, whoever wrote it, gets the bound context (`run`, `portal`,
`listing`) and passes through the redaction processor before it is rendered.

httpx logs every request URL at INFO, Booli's signature included; its loggers (and httpcore's)
are raised to WARNING, and the redaction processor masks such URLs anyway.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import IO, Any, Literal

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from listsync.redact import MASK, is_secret_key, redact

__all__ = [
    "LogFormat",
    "bind_context",
    "configure_logging",
    "debug_enabled",
    "get_logger",
    "info_enabled",
    "line_formatter",
    "redact_processor",
]

LogFormat = Literal["console", "json"]

logging.getLogger("listsync").addHandler(logging.NullHandler())


def get_logger(name: str) -> Any:
    """The logger for a library module (`get_logger(__name__)`).

    A structlog logger wrapping `logging.getLogger(name)`: it follows whatever structlog
    configuration is active when a line is logged (the CLI's, or `capture_logs()` in tests),
    and otherwise hands the line to the standard `logging` module instead of printing it. The
    name's top-level package logger gets a `NullHandler`, so without a logging set-up nothing is
    printed at all (not even Python's last-resort warnings on standard error).
    """
    package = logging.getLogger(name.partition(".")[0])
    if not any(isinstance(h, logging.NullHandler) for h in package.handlers):
        package.addHandler(logging.NullHandler())
    return structlog.wrap_logger(logging.getLogger(name), logger_factory_args=(name,))


_QUIET_LOGGERS = ("httpx", "httpcore", "hpack", "stevedore", "uvicorn.access")
_PRIMITIVES = (str, int, float, bool, type(None))


def _clean(value: Any) -> Any:
    """`redact`, plus: objects that are not JSON-ish are rendered to text and redacted."""
    if isinstance(value, Mapping):
        return {
            k: (MASK if isinstance(k, str) and is_secret_key(k) and v else _clean(v))
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, _PRIMITIVES):
        return redact(value)
    return redact(str(value))


def redact_processor(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """structlog processor: mask secret-keyed values and secret-looking text, recursively.

    Keys such as `token`, `client_secret`, `hash` or `callerId` lose their values; bearer
    tokens, JWTs and `key=value` secrets inside any string (the event itself, URLs, formatted
    tracebacks) are masked. Other objects are rendered with `str()` first, so a secret cannot
    slip through a `repr()` later.
    """
    return {
        key: (MASK if is_secret_key(key) and value else _clean(value))
        for key, value in event_dict.items()
    }


def _shared_processors() -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


def line_formatter(fmt: LogFormat, *, colors: bool = False) -> logging.Formatter:
    """The formatter `configure_logging` puts on its handler: redacted console text or JSON.

    For callers that install their own handler (the CLI writes through its rich console).
    """
    renderer: Processor = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=colors)
    )
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.stdlib.ExtraAdder(), *_shared_processors()],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,  # before redaction: tracebacks are text
            redact_processor,
            renderer,
        ],
    )


def _level(level: str | int) -> int:
    if isinstance(level, int):
        return level
    try:
        return logging.getLevelNamesMapping()[level.upper()]
    except KeyError:
        raise ValueError(f"unknown log level {level!r}") from None


def configure_logging(
    format: LogFormat = "console",  # noqa: A002 - the CLI option is called --log-format
    level: str | int = "INFO",
    stream: IO[str] | None = None,
    *,
    handler: logging.Handler | None = None,
) -> None:
    """Route structlog and stdlib logging to `stream`, rendered as console text or JSON lines.

    Replaces the root logger's handlers; meant for the CLI and for applications that have no
    logging set-up of their own. Safe to call more than once (the last call wins).

    Args:
        format: `"console"` (human-readable) or `"json"` (one JSON object per line).
        level: the minimum level, a name (`"DEBUG"`) or a number.
        stream: where lines go; standard error by default, so standard output stays free for
            command output such as `--json` reports.
        handler: use this handler instead of a stream handler (its formatter is set here
            unless it has one).

    Raises:
        ValueError: an unknown level name.
    """
    stream = sys.stderr if stream is None else stream
    numeric = _level(level)
    shared = _shared_processors()
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    if handler is None:
        handler = logging.StreamHandler(stream)
        colors = bool(getattr(stream, "isatty", lambda: False)())
        handler.setFormatter(line_formatter(format, colors=colors and format == "console"))
    elif handler.formatter is None:
        handler.setFormatter(line_formatter(format))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric)
    for name in _QUIET_LOGGERS:
        logging.getLogger(name).setLevel(max(numeric, logging.WARNING))


@contextmanager
def bind_context(
    *, run: str | None = None, portal: str | None = None, listing: str | None = None, **extra: Any
) -> Iterator[None]:
    """Bind `run`, `portal` and `listing` (and any extra keys) to every log line in the block.

    Uses structlog's contextvars, so each asyncio task sees its own values; keys given as None
    are not bound. The previous values are restored on exit.
    """
    values = {"run": run, "portal": portal, "listing": listing, **extra}
    with structlog.contextvars.bound_contextvars(
        **{k: v for k, v in values.items() if v is not None}
    ):
        yield


def debug_enabled(logger: logging.Logger) -> bool:
    """Whether a `log.debug` line for `logger` would be emitted: checked on hot paths (per
    request, per operation) before building one.

    Configured through `configure_logging`, structlog's first processor drops lines below the
    stdlib level only after binding a logger and copying the context, so the stdlib check is far
    cheaper. Unconfigured, structlog would print every debug line to standard output: an
    application that set up no logging gets none from the hot paths. Any other configuration
    (e.g. `structlog.testing.capture_logs()`) keeps every level.
    """
    if not structlog.is_configured():
        return False
    processors = structlog.get_config()["processors"]
    if processors and processors[0] is structlog.stdlib.filter_by_level:
        return logger.isEnabledFor(logging.DEBUG)
    return True


def info_enabled(logger: logging.Logger) -> bool:
    """Whether a `log.info` line for `logger` would be emitted (see `debug_enabled`): checked
    on hot paths before building one. Unconfigured, the line goes to `logging`, whose level
    decides, as it does here."""
    if structlog.is_configured():
        processors = structlog.get_config()["processors"]
        if not processors or processors[0] is not structlog.stdlib.filter_by_level:
            return True
    return logger.isEnabledFor(logging.INFO)
