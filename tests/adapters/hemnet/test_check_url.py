"""`rules.check_url` gives the verdict of a plain `urlsplit` reading on its fast paths (a plain
URL's host read by pattern, the last plain `scheme://host/` remembered with its verdict),
whatever URLs came before."""

from __future__ import annotations

from urllib.parse import urlsplit

from hypothesis import given, settings
from hypothesis import strategies as st

from listsync_hemnet import rules
from listsync_hemnet.rules import _host_problem, check_url


def reference(url: str) -> str | None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "must be an absolute http(s) URL"
    return _host_problem(parts.hostname)


HOSTS = [
    "bilder.example.se",
    "BILDER.Example.SE",
    "localhost",
    "img.local",
    "db.internal",
    "127.0.0.1",
    "10.1.2.3",
    "93.184.215.14",
    "[::1]",
    "user:pw@127.0.0.1",
    "bilder.example.se:8080",
    "",
]
SCHEMES = ["http://", "https://", "HTTP://", "ftp://", "http:/", ""]
TAILS = ["", "/", "/a/b.jpg", "?x=1", "#f", "/x y.jpg", ":80/p", "@127.0.0.1/"]
URLS = st.builds(
    lambda scheme, host, tail: scheme + host + tail,
    st.sampled_from(SCHEMES),
    st.sampled_from(HOSTS),
    st.sampled_from(TAILS),
)


@given(st.lists(URLS, min_size=1, max_size=8))
@settings(max_examples=500)
def test_a_run_of_urls_gets_the_urlsplit_verdicts(urls: list[str]) -> None:
    assert [check_url(url) for url in urls] == [reference(url) for url in urls]


def test_a_private_host_after_a_public_one_with_the_same_start() -> None:
    """The remembered `scheme://host/` covers URLs of that host only, not longer hosts."""
    assert check_url("http://10.0.0.1/a.jpg") is not None
    assert check_url("http://bilder.example.se/a.jpg") is None
    assert check_url("http://bilder.example.se.evil/a.jpg") is None
    assert check_url("http://10.0.0.1/b.jpg") is not None
    assert check_url("http://10.0.0.10/b.jpg") is not None
    assert check_url("http://localhost/b.jpg") is not None


def test_alternating_hosts_keep_their_own_verdicts() -> None:
    """A listing's links and images on different hosts, one of them private, turn after turn:
    each URL gets its host's verdict (the remembered table is keyed by `scheme://host/`)."""
    for _ in range(3):
        assert check_url("https://www.example.se/objekt/1") is None
        assert check_url("https://10.0.0.1/objekt/1/01.jpg") is not None
        assert check_url("https://10.0.0.1/objekt/1/02.jpg") is not None
        assert check_url("https://www.example.se.evil/x") is None
        assert check_url("https://www.example.se/") is None
        assert check_url("https://10.0.0.1") is not None
        assert check_url("http://10.0.0.1/x") is not None


def test_the_remembered_hosts_are_bounded() -> None:
    """More hosts than the table keeps: it starts over, verdicts unchanged."""
    for n in range(rules._PLAIN_KEPT + 10):
        assert check_url(f"https://h{n}.example.se/a.jpg") is None
        assert len(rules._plain_verdicts) <= rules._PLAIN_KEPT
    assert check_url("https://127.0.0.1/a.jpg") is not None
    assert check_url("https://h1.example.se/b.jpg") is None
