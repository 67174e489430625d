"""`listsync new-adapter`: generate a ready-to-install adapter distribution.

The templates under `templates/` are a small but complete adapter in the one module shape every
listsync adapter has (`settings`, `auth`, `client` with its route table, `mapping`, `rules` for
write adapters, `errors` with one `map_error`, `adapter`, `sandbox`, and the sandbox's half of
the authentication in `_sandbox_auth`), with conformance tests, a LICENSE placeholder, a
.gitignore, a CI workflow and an import-linter contract, for one of four authentication kinds,
writing or read-only. The generated code imports only public listsync modules.

Placeholders: `{{name}}` (the entry-point name), `{{Class}}` (its CamelCase form), `{{auth}}`,
`{{read_only_flag}}`, and a few filled in per variant (`{{auth_dependencies}}`,
`{{private_modules}}`, `{{rules_row}}`, `{{contract_methods}}`).
"""

from __future__ import annotations

import re
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Any

__all__ = ["AuthKind", "ScaffoldError", "generate", "private_modules"]

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


_FORBIDDEN = ("sync", "cli", "config", "registry", "syndicator", "testing", "scaffold")
"""listsync's modules an adapter never imports (named in the generated import contract)."""

_AUTH_DEPENDENCIES = {AuthKind.OAUTH2: '\n    "authlib>=1.9,<2",'}


def _layout(name: str, auth: AuthKind, read_only: bool) -> dict[str, str]:
    """Generated path (relative to the distribution) -> template path."""
    kind = "read" if read_only else "write"
    package = f"src/listsync_{name}"
    auth_file = f"{auth.value.replace('-', '_')}.py.tmpl"
    layout = {
        "pyproject.toml": "common/pyproject.toml.tmpl",
        "README.md": "common/README.md.tmpl",
        "LICENSE": "common/LICENSE.tmpl",
        ".gitignore": "common/gitignore.tmpl",
        ".github/workflows/ci.yml": "common/ci.yml.tmpl",
        f"{package}/__init__.py": "common/__init__.py.tmpl",
        f"{package}/settings.py": f"settings/{auth_file}",
        f"{package}/auth.py": f"auth/{auth_file}",
        f"{package}/_sandbox_auth.py": f"sandbox_auth/{auth_file}",
        f"{package}/errors.py": "common/errors.py.tmpl",
        f"{package}/mapping.py": "common/mapping.py.tmpl",
        f"{package}/client.py": f"{kind}/client.py.tmpl",
        f"{package}/adapter.py": f"{kind}/adapter.py.tmpl",
        f"{package}/sandbox.py": f"{kind}/sandbox.py.tmpl",
        "tests/test_conformance.py": f"{kind}/test_conformance.py.tmpl",
    }
    if not read_only:
        layout[f"{package}/rules.py"] = "write/rules.py.tmpl"
    return layout


def private_modules() -> list[str]:
    """listsync's private modules (a segment starting with `_`) outside the forbidden
    packages, for the generated import contract (import-linter matches whole modules)."""
    root = resources.files("listsync")
    found: list[str] = []

    def walk(folder: Any, prefix: str) -> None:
        for entry in sorted(folder.iterdir(), key=lambda e: e.name):
            stem = entry.name.removesuffix(".py")
            if entry.name == "__pycache__" or (prefix == "listsync" and stem in _FORBIDDEN):
                continue
            if entry.is_dir() and entry.joinpath("__init__.py").is_file():
                walk(entry, f"{prefix}.{stem}")
            elif entry.name.endswith(".py") and stem != "__init__":
                module = f"{prefix}.{stem}"
                if any(part.startswith("_") for part in module.split(".")):
                    found.append(module)

    walk(root, "listsync")
    return found


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
    methods = (
        "capabilities, check, search, get"
        if read_only
        else ("capabilities, prepare, apply, recover, fetch")
    )
    rules_row = (
        "" if read_only else "| `rules.py` | offline rules with ids (no I/O), run by `prepare` |\n"
    )
    values = {
        "{{name}}": name,
        "{{Class}}": "".join(part.capitalize() for part in name.split("_")),
        "{{auth}}": auth.value,
        "{{read_only_flag}}": " --read-only" if read_only else "",
        "{{auth_dependencies}}": _AUTH_DEPENDENCIES.get(auth, ""),
        "{{private_modules}}": "".join(f'\n    "{m}",' for m in private_modules()),
        "{{rules_row}}": rules_row,
        "{{contract_methods}}": methods,
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
