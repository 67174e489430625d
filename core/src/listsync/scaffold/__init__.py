"""`listsync new-adapter`: generate a ready-to-install adapter distribution.

The templates under `templates/` are a small but complete adapter (client with a route table,
mapping, rules, errors, auth, sandbox, conformance tests) for one of four authentication kinds,
writing or read-only. The placeholders are `{{name}}` (the entry-point name), `{{Class}}` (its
CamelCase form), `{{auth}}` and `{{read_only_flag}}`.
"""

from __future__ import annotations

import re
from enum import StrEnum
from importlib import resources
from pathlib import Path

__all__ = ["AuthKind", "ScaffoldError", "generate"]

_NAME = re.compile(r"^[a-z][a-z0-9_]{1,40}$")


class AuthKind(StrEnum):
    BEARER = "bearer"
    OAUTH2 = "oauth2"
    SIGNED_QUERY = "signed-query"
    API_KEY = "api-key"


class ScaffoldError(ValueError):
    """The name or the output directory cannot be used."""


def _template(relative: str) -> str:
    return resources.files("listsync.scaffold").joinpath("templates", relative).read_text("utf-8")


def _layout(name: str, auth: AuthKind, read_only: bool) -> dict[str, str]:
    """Generated path (relative to the distribution) -> template path."""
    kind = "read" if read_only else "write"
    package = f"src/listsync_{name}"
    return {
        "pyproject.toml": "common/pyproject.toml.tmpl",
        "README.md": "common/README.md.tmpl",
        f"{package}/__init__.py": "common/__init__.py.tmpl",
        f"{package}/errors.py": "common/errors.py.tmpl",
        f"{package}/mapping.py": "common/mapping.py.tmpl",
        f"{package}/rules.py": "common/rules.py.tmpl",
        f"{package}/auth.py": f"auth/{auth.value.replace('-', '_')}.py.tmpl",
        f"{package}/client.py": f"{kind}/client.py.tmpl",
        f"{package}/adapter.py": f"{kind}/adapter.py.tmpl",
        f"{package}/sandbox.py": f"{kind}/sandbox.py.tmpl",
        "tests/test_conformance.py": f"{kind}/test_conformance.py.tmpl",
    }


def generate(
    name: str,
    *,
    auth: AuthKind = AuthKind.BEARER,
    read_only: bool = False,
    output: Path = Path(),
    force: bool = False,
) -> Path:
    """Write the distribution `listsync-<name>` under `output`; return its directory.

    Raises:
        ScaffoldError: the name is not a valid adapter name or the directory exists.
    """
    if not _NAME.match(name):
        raise ScaffoldError(
            f"adapter name {name!r} must be lowercase letters, digits and underscores, "
            "starting with a letter (it is the entry-point name and part of a module name)"
        )
    root = output / f"listsync-{name}"
    if root.exists() and not force:
        raise ScaffoldError(f"{root} exists; choose another --output or remove it")
    values = {
        "{{name}}": name,
        "{{Class}}": "".join(part.capitalize() for part in name.split("_")),
        "{{auth}}": auth.value,
        "{{read_only_flag}}": " --read-only" if read_only else "",
    }
    for target, template in _layout(name, auth, read_only).items():
        text = _template(template)
        for placeholder, value in values.items():
            text = text.replace(placeholder, value)
        path = root / target
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    (root / f"src/listsync_{name}/py.typed").write_text("", encoding="utf-8")
    return root
