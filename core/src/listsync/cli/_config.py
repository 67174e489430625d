"""`listsync config show` and `listsync adapters NAME --settings`.

`config show` loads the configuration exactly as `apply` would (the file, then `LISTSYNC_*`
variables), validates every portal table against its installed adapter, and prints each
effective value with where it came from (`file listsync.toml`, `env LISTSYNC_HEMNET_TOKEN`,
`default`); credentials are masked. `adapters NAME --settings` prints an adapter's settings and
account fields with their types, defaults and docs.
"""

from __future__ import annotations

import inspect
import json
import re
import sys
from collections.abc import Iterator
from typing import Annotated, Any

import typer
from pydantic import BaseModel, SecretBytes, SecretStr
from pydantic.fields import FieldInfo
from rich.console import Console
from rich.table import Table

from listsync.cli._terminal import terminal
from listsync.config import DEFAULT_ACCOUNT, Config, load_config, parse_portal_config
from listsync.errors import ListsyncError
from listsync.redact import MASK, is_secret_key
from listsync.registry import Registry

__all__ = ["config_rows", "config_show", "print_adapter_settings"]


def config_show(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Print the effective configuration (file + environment), secrets masked, with the source
    of every value. Exit 2 when it does not load or validate."""
    registry = Registry()
    try:
        config = load_config(terminal.config, known_portals=registry.names())
        rows = list(config_rows(config, registry))
    except ListsyncError as exc:
        raise terminal.fail(str(exc)) from None
    if as_json:
        doc = [{"key": k, "value": v, "source": s} for k, v, s in rows]
        sys.stdout.write(json.dumps(doc, ensure_ascii=False, indent=2, default=str) + "\n")
        return
    table = Table(title=f"listsync configuration ({config.source or 'no file'})")
    for column in ("key", "value", "source"):
        table.add_column(column)
    for key, value, source in rows:
        table.add_row(key, json.dumps(value, ensure_ascii=False, default=str), source)
    Console(highlight=False, soft_wrap=True).print(table)


def config_rows(config: Config, registry: Registry) -> Iterator[tuple[str, Any, str]]:
    """`(dotted key, shown value, source)` for every effective setting, secrets masked.

    Raises:
        ConfigurationError: a portal whose adapter is not installed or whose table is invalid.
    """
    yield "state.url", config.state_url, config.origin("state.url")
    for name, table in sorted(config.portals.items()):
        cls = registry.get(name)
        parsed = parse_portal_config(name, table, cls.settings_model, cls.account_model)
        where = f"portals.{name}"
        yield from _model_rows(config, where, parsed.settings, table)
        for account, values in sorted(parsed.accounts.items()):
            given = table if account == DEFAULT_ACCOUNT else table.get("accounts", {})[account]
            at = where if account == DEFAULT_ACCOUNT else f"{where}.accounts.{account}"
            yield from _model_rows(config, at, values, given)


def _model_rows(
    config: Config, where: str, model: BaseModel, given: dict[str, Any]
) -> Iterator[tuple[str, Any, str]]:
    for field_name in type(model).model_fields:
        key = f"{where}.{field_name}"
        value = getattr(model, field_name)
        source = config.origin(key) if field_name in given else "default"
        yield key, _shown(field_name, value), source


def _shown(name: str, value: Any) -> Any:
    if isinstance(value, SecretStr | SecretBytes):
        return MASK if value.get_secret_value() else ""
    if is_secret_key(name) and value:
        return MASK
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, tuple | frozenset | set):
        return list(value)
    return value


# -- adapters NAME --settings ------------------------------------------------------------------


def print_adapter_settings(name: str, cls: type[Any], *, as_json: bool = False) -> None:
    """The adapter's settings and account fields: key, type, default, doc."""
    sections = {
        f"[portals.{name}] portal settings ({cls.settings_model.__name__})": cls.settings_model,
        f"account fields, in [portals.{name}] (the default account) or "
        f"[portals.{name}.accounts.<account>] ({cls.account_model.__name__})": cls.account_model,
    }
    if as_json:
        doc = {
            "settings": list(_fields(cls.settings_model, name)),
            "account": list(_fields(cls.account_model, name)),
        }
        sys.stdout.write(json.dumps(doc, ensure_ascii=False, indent=2, default=str) + "\n")
        return
    out = Console(highlight=False, soft_wrap=True)
    for title, model in sections.items():
        table = Table(title=title, title_justify="left")
        for column in ("key", "type", "default", "environment", "doc"):
            table.add_column(column)
        for row in _fields(model, name):
            table.add_row(row["key"], row["type"], row["default"], row["env"], row["doc"])
        out.print(table)


def _fields(model: type[BaseModel], portal: str) -> Iterator[dict[str, str]]:
    docs = attribute_docs(model)
    for key, info in model.model_fields.items():
        yield {
            "key": key,
            "type": _type_name(info),
            "default": "(required)" if info.is_required() else _default(key, info),
            "env": f"LISTSYNC_{portal.upper()}_{key.upper()}",
            "doc": info.description or docs.get(key, ""),
        }


_ATTRIBUTE = re.compile(r"^(\w+(?:\s*/\s*\w+)*)\s*(?:\([^)]*\))?:\s*(.*)$")


def attribute_docs(model: type[BaseModel]) -> dict[str, str]:
    """Field docs from the Google-style `Attributes:` sections of the model and its bases."""
    docs: dict[str, str] = {}
    for cls in reversed(model.__mro__):
        lines = inspect.cleandoc(cls.__dict__.get("__doc__") or "").splitlines()
        inside, names = False, []
        for line in lines:
            if line.strip() == "Attributes:":
                inside = True
                continue
            if not inside:
                continue
            if line and not line.startswith(" "):
                break
            match = (
                _ATTRIBUTE.match(line.strip())
                if line.startswith("    ") and not line.startswith("     ")
                else None
            )
            if match:
                names = [n.strip() for n in match.group(1).split("/")]
                for name in names:
                    docs[name] = match.group(2)
            elif line.strip():
                for name in names:
                    docs[name] += " " + line.strip()
    return docs


def _type_name(info: FieldInfo) -> str:
    annotation = info.annotation
    text = getattr(annotation, "__name__", None) or str(annotation)
    text = text.replace("typing.", "").replace("pydantic.types.", "")
    bounds = [
        f"{op} {getattr(m, attr)}"
        for m in info.metadata
        for attr, op in (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<="))
        if getattr(m, attr, None) is not None
    ]
    return f"{text} ({', '.join(bounds)})" if bounds else text


def _default(key: str, info: FieldInfo) -> str:
    value = info.get_default(call_default_factory=True)
    if isinstance(value, SecretStr | SecretBytes) or (is_secret_key(key) and value):
        return MASK
    return json.dumps(_shown(key, value), ensure_ascii=False, default=str)
