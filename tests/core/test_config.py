"""Configuration: TOML file, environment overrides, clear errors that never echo secrets."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import SecretStr

from listsync.adapter import AccountSettings, AdapterSettings
from listsync.config import DEFAULT_STATE_URL, load_config, parse_portal_config
from listsync.errors import ConfigurationError
from listsync.registry import Registry

SECRET = "tok-very-secret-42"


class DemoSettings(AdapterSettings):
    """Portal settings with one portal-specific option."""

    listing_prefix: str = "ls"


class DemoAccount(AccountSettings):
    """An account whose credential is required."""

    token: SecretStr


def write(tmp_path: Path, text: str) -> Path:
    """Write a listsync.toml into `tmp_path`."""
    path = tmp_path / "listsync.toml"
    path.write_text(text, encoding="utf-8")
    return path


def parse(table: dict[str, object]) -> object:
    """Validate a `[portals.demo]` table against the demo models."""
    return parse_portal_config("demo", table, DemoSettings, DemoAccount)


def test_toml_with_accounts(tmp_path: Path) -> None:
    """Portal settings, the default account and named accounts come from one table."""
    path = write(
        tmp_path,
        f"""
[state]
url = "sqlite:///x.sqlite"

[portals.demo]
base_url = "https://demo.test"
max_attempts = 3
token = "{SECRET}"

[portals.demo.accounts.acme]
token = "acme-tok"
agencies = ["acme", "acme-east"]
""",
    )
    config = load_config(path, env={})
    assert config.state_url == "sqlite:///x.sqlite"
    portal = parse_portal_config("demo", config.portals["demo"], DemoSettings, DemoAccount)
    assert portal.settings.base_url == "https://demo.test"
    assert portal.settings.max_attempts == 3
    assert set(portal.accounts) == {"default", "acme"}
    acme = portal.accounts["acme"]
    assert isinstance(acme, DemoAccount)
    assert acme.token.get_secret_value() == "acme-tok"
    assert acme.agencies == ("acme", "acme-east")


def test_env_overrides_portal_and_account_settings(tmp_path: Path) -> None:
    """`LISTSYNC_<PORTAL>_<SETTING>` and `LISTSYNC_<PORTAL>__<ACCOUNT>__<SETTING>` win."""
    path = write(tmp_path, '[portals.demo]\nbase_url = "https://file.test"\ntoken = "file"\n')
    env = {
        "LISTSYNC_DEMO_BASE_URL": "https://env.test",
        "LISTSYNC_DEMO_MAX_RETRY_WAIT": "5",
        "LISTSYNC_DEMO_TOKEN": "env-default",
        "LISTSYNC_DEMO__ACME__TOKEN": "env-acme",
        "LISTSYNC_DEMO__ACME__AGENCIES": '["acme"]',
        "LISTSYNC_STATE_URL": "sqlite:///env.sqlite",
        "LISTSYNC_UNRELATED": "x",
    }
    config = load_config(path, env=env)
    portal = parse_portal_config("demo", config.portals["demo"], DemoSettings, DemoAccount)
    assert portal.settings.base_url == "https://env.test"
    assert portal.settings.max_retry_wait == 5.0
    tokens = {
        name: account.token.get_secret_value()  # type: ignore[attr-defined]  # DemoAccount
        for name, account in portal.accounts.items()
    }
    assert tokens == {"default": "env-default", "acme": "env-acme"}
    assert portal.accounts["acme"].agencies == ("acme",)
    assert config.state_url == "sqlite:///env.sqlite"


def test_env_alone_configures_a_known_portal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a file, env variables configure portals listed in `known_portals`."""
    monkeypatch.chdir(tmp_path)  # no ./listsync.toml here
    env = {"LISTSYNC_DEMO_BASE_URL": "https://env.test", "LISTSYNC_DEMO__DEFAULT__TOKEN": "t"}
    config = load_config(env=env, known_portals=["demo"])
    assert config.source is None
    assert config.state_url == DEFAULT_STATE_URL
    assert config.portals == {"demo": {"base_url": "https://env.test", "token": "t"}}
    assert load_config(env={"LISTSYNC_OTHER_TOKEN": "t"}, known_portals=["demo"]).portals == {}


def test_default_file_is_read_from_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no path given, ./listsync.toml is used when present."""
    write(tmp_path, '[state]\nurl = "sqlite:///here.sqlite"\n')
    monkeypatch.chdir(tmp_path)
    assert load_config(env={}).state_url == "sqlite:///here.sqlite"


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('[logging]\nlevel = "x"\n', "logging"),
        ('[state]\npath = "x"\n', "state.path"),
        ('portals = "x"\n', None),
    ],
)
def test_unknown_tables_and_keys_in_the_file(tmp_path: Path, text: str, key: str | None) -> None:
    """An unknown table or key is an error naming it."""
    with pytest.raises(ConfigurationError) as caught:
        load_config(write(tmp_path, text), env={})
    if key is not None:
        assert caught.value.key == key
        assert key in str(caught.value)


def test_unknown_portal_key_is_named() -> None:
    """A misspelt portal setting is reported with its full dotted key."""
    with pytest.raises(ConfigurationError) as caught:
        parse({"base_url": "https://x", "token": SECRET, "max_atempts": 3})
    assert caught.value.key == "portals.demo.max_atempts"
    assert "unknown setting" in str(caught.value)


def test_unknown_account_key_is_named() -> None:
    """A misspelt key in a named account is reported with the account's path."""
    with pytest.raises(ConfigurationError) as caught:
        parse({"base_url": "https://x", "accounts": {"acme": {"token": "t", "tokn": "t"}}})
    assert caught.value.key == "portals.demo.accounts.acme.tokn"


def test_missing_credential_is_named() -> None:
    """An account without its required credential names the missing key."""
    with pytest.raises(ConfigurationError) as caught:
        parse({"base_url": "https://x", "accounts": {"acme": {"agencies": ["a"]}}})
    assert caught.value.key == "portals.demo.accounts.acme.token"
    assert "missing required setting" in str(caught.value)


def test_missing_base_url_is_named() -> None:
    """`base_url` is required for every portal."""
    with pytest.raises(ConfigurationError) as caught:
        parse({"token": SECRET})
    assert caught.value.key == "portals.demo.base_url"


def test_secrets_are_not_echoed_in_errors(tmp_path: Path) -> None:
    """An invalid value next to a secret, or a secret of the wrong type, is never quoted."""
    with pytest.raises(ConfigurationError) as caught:
        parse({"base_url": "https://x", "token": SECRET, "max_attempts": SECRET})
    assert SECRET not in str(caught.value)
    assert caught.value.key == "portals.demo.max_attempts"
    with pytest.raises(ConfigurationError) as caught:
        parse({"base_url": "https://x", "token": [SECRET]})
    assert SECRET not in str(caught.value)
    env = {"LISTSYNC_DEMO_TOKEN": "[" + SECRET}
    with pytest.raises(ConfigurationError) as caught:
        load_config(write(tmp_path, '[portals.demo]\nbase_url = "x"\n'), env=env)
    assert SECRET not in str(caught.value)
    assert caught.value.key == "LISTSYNC_DEMO_TOKEN"


def test_settings_repr_hides_credentials() -> None:
    """A parsed account's repr (as it could end up in a log) hides the credential."""
    portal = parse({"base_url": "https://x", "token": SECRET})
    assert SECRET not in repr(portal)


def test_missing_or_broken_file(tmp_path: Path) -> None:
    """A missing file or invalid TOML is a ConfigurationError, not a traceback."""
    with pytest.raises(ConfigurationError, match="does not exist"):
        load_config(tmp_path / "nope.toml", env={})
    with pytest.raises(ConfigurationError, match="invalid TOML"):
        load_config(write(tmp_path, "[portals\n"), env={})


def load_and_parse(path: Path, env: dict[str, str]) -> None:
    """Load a file and validate its demo portal, as a command does before any listing."""
    config = load_config(path, env=env)
    parse(config.portals["demo"])


GOOD = '[portals.demo]\nbase_url = "https://demo.test"\ntoken = "s"\n'


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("state = 5\n", "state: must be a table"),
        ('state = "sqlite:///x"\n', "state: must be a table"),
        ("[state]\nurl = 5\n", "state.url: must be a string"),
        ('[state]\nurl = "postgres://x"\n', "state.url: must be a state URL"),
        ("portals = 5\n", "portals: must be a table"),
        ("[portals]\ndemo = 5\n", "portals.demo: must be a table"),
        (GOOD + 'accounts = "acme"\n', "portals.demo.accounts: must be a table of account"),
        (GOOD + "timeout = inf\n", "portals.demo.timeout: must be a finite number"),
        (GOOD + "requests_per_second = nan\n", "portals.demo.requests_per_second: "),
        (GOOD.replace("https://demo.test", ""), "portals.demo.base_url: must be an http"),
        (GOOD.replace("https://", ""), "portals.demo.base_url: must be an http"),
        (GOOD.replace("https://", "ftp://"), "portals.demo.base_url: must be an http"),
        (GOOD.replace('"s"', '"s\\r\\nX-Evil: 1"'), "portals.demo.token: must not contain"),
        (GOOD + 'user_agent = "Mäklare ☃"\n', "portals.demo.user_agent: must be Latin-1"),
    ],
)
def test_hostile_files_are_one_clear_error(tmp_path: Path, text: str, expected: str) -> None:
    """Every hostile example of issue 17 fails at load time with one line naming the key."""
    with pytest.raises(ConfigurationError) as caught:
        load_and_parse(write(tmp_path, text), {})
    assert str(caught.value).startswith(expected)
    assert "\n" not in str(caught.value)


def test_undecodable_file_and_folder(tmp_path: Path) -> None:
    """Invalid UTF-8 and a folder given as the config file are errors, not tracebacks."""
    path = tmp_path / "listsync.toml"
    path.write_bytes(b'[portals.demo]\nbase_url = "\xff"\n')
    with pytest.raises(ConfigurationError, match="not UTF-8 text"):
        load_config(path, env={})
    with pytest.raises(ConfigurationError, match="is a directory"):
        load_config(tmp_path, env={})


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"LISTSYNC_DEMO_MAX_ATEMPTS": "3"}, "LISTSYNC_DEMO_MAX_ATEMPTS: unknown setting"),
        ({"LISTSYNC_DEMO_USER_AGENT": "Mäklare ☃"}, "LISTSYNC_DEMO_USER_AGENT: must be Latin-1"),
        ({"LISTSYNC_DEMO_TIMEOUT": "inf"}, "LISTSYNC_DEMO_TIMEOUT: must be a finite number"),
        ({"LISTSYNC_DEMO_MAX_ATTEMPTS": "x"}, "LISTSYNC_DEMO_MAX_ATTEMPTS: Input should be"),
        ({"LISTSYNC_DEMO__ACME__AGENCIES": "acme"}, "LISTSYNC_DEMO__ACME__AGENCIES: must be a"),
        ({"LISTSYNC_DEMO__ACME__TOKN": "x"}, "LISTSYNC_DEMO__ACME__TOKN: unknown setting"),
        ({"LISTSYNC_STATE_URL": "nope"}, "LISTSYNC_STATE_URL: must be a state URL"),
    ],
)
def test_errors_name_the_environment_variable(
    tmp_path: Path, env: dict[str, str], expected: str
) -> None:
    """A bad value from the environment is reported under its variable, not a TOML key."""
    with pytest.raises(ConfigurationError) as caught:
        load_and_parse(write(tmp_path, GOOD), env)
    assert str(caught.value).startswith(expected)


def test_origins_say_where_each_value_came_from(tmp_path: Path) -> None:
    """The file's values and the environment's are told apart (for `config show`)."""
    path = write(tmp_path, GOOD)
    config = load_config(
        path, env={"LISTSYNC_DEMO_TOKEN": SECRET, "LISTSYNC_STATE_URL": "sqlite:///s"}
    )
    assert config.origin("portals.demo.token") == "env LISTSYNC_DEMO_TOKEN"
    assert config.origin("state.url") == "env LISTSYNC_STATE_URL"
    assert config.origin("portals.demo.base_url") == f"file {path}"


def documented_toml() -> list[str]:
    """Every ```toml block of docs/configuration.md and README.md."""
    root = Path(__file__).resolve().parents[2]
    blocks = []
    for doc in ("docs/configuration.md", "README.md"):
        text = (root / doc).read_text(encoding="utf-8")
        blocks += re.findall(r"```toml\n(.*?)```", text, re.S)
    return blocks


@pytest.mark.parametrize("block", documented_toml())
def test_documented_examples_load(tmp_path: Path, block: str) -> None:
    """Every configuration example in the docs loads and validates against its adapter."""
    registry = Registry()
    config = load_config(write(tmp_path, block), env={}, known_portals=registry.names())
    for name, table in config.portals.items():
        cls = registry.get(name)
        parsed = parse_portal_config(name, table, cls.settings_model, cls.account_model)
        assert parsed.accounts


def test_documented_environment_variables_load(tmp_path: Path) -> None:
    """The variables of the docs' environment table set what the table says they set."""
    env = {
        "LISTSYNC_STATE_URL": "sqlite:///env.sqlite",
        "LISTSYNC_HEMNET_BASE_URL": "https://integration.hemnet.se/api/v1",
        "LISTSYNC_HEMNET_TOKEN": "t-default",
        "LISTSYNC_HEMNET_MAX_RETRY_WAIT": "30",
        "LISTSYNC_HEMNET__ACME__TOKEN": "t-acme",
        "LISTSYNC_HEMNET__ACME__AGENCIES": '["acme"]',
    }
    config = load_config(env=env, known_portals=["hemnet"])
    assert config.state_url == "sqlite:///env.sqlite"
    cls = Registry().get("hemnet")
    parsed = parse_portal_config(
        "hemnet", config.portals["hemnet"], cls.settings_model, cls.account_model
    )
    assert parsed.settings.max_retry_wait == 30
    assert parsed.accounts["acme"].agencies == ("acme",)
