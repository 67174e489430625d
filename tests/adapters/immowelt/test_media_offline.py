"""`MediaPolicy.offline_refusal` gives the same verdict on its fast path (plain URLs, verdict
kept per host) as the plain `urlsplit` reading it replaced."""

from __future__ import annotations

from urllib.parse import urlsplit

from hypothesis import given, settings
from hypothesis import strategies as st

from listsync_immowelt._media import MediaPolicy, literal_address

POLICY = MediaPolicy.build(
    allow_private=False,
    allowed_hosts=("cdn.example.org", "10.1.0.0/16"),
    mirror=None,
    max_bytes=1024,
    content_types=("image/*",),
)


def reference(policy: MediaPolicy, url: str) -> str | None:
    """The verdict as `offline_refusal` computed it before the fast path."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return f"only http and https URLs are fetched, not {parts.scheme or 'this'}"
    host = (parts.hostname or "").lower().rstrip(".")
    if not host or policy.trusts(host):
        return None
    if host == "localhost" or host.endswith(".localhost"):
        return f"{host} is a loopback name"
    address = literal_address(host)
    if address is None:
        return None
    reason = policy.refusal(address)
    return None if reason is None else f"{host} is a {reason} address"


HOSTS = [
    "bilder.example.se",
    "BILDER.Example.SE.",
    "localhost",
    "img.localhost",
    "127.0.0.1",
    "127.1",
    "0x7f000001",
    "2130706433",
    "10.1.2.3",
    "10.2.0.1",
    "169.254.169.254",
    "93.184.215.14",
    "[::1]",
    "[fe80::1%25eth0]",
    "cdn.example.org",
    "user:pw@127.0.0.1",
    "127.0.0.1:8080",
    "",
    "a-b.c-d",
    "0177.0.0.1",
]
SCHEMES = ["http://", "https://", "HTTP://", "ftp://", " http://", "http:/", "file://", ""]
TAILS = ["", "/", "/a/b.jpg", "?x=1", "#f", "/x y.jpg", "\t/p", ":80/p"]


@given(st.sampled_from(SCHEMES), st.sampled_from(HOSTS), st.sampled_from(TAILS))
@settings(max_examples=400)
def test_fast_path_agrees_with_urlsplit(scheme: str, host: str, tail: str) -> None:
    url = scheme + host + tail
    assert POLICY.offline_refusal(url) == reference(POLICY, url)


@given(st.text(alphabet="htps:/.-0123456789abcdefxABC@[]%?#\t ", max_size=40))
@settings(max_examples=400)
def test_fast_path_agrees_on_any_text(text: str) -> None:
    for url in (text, "http://" + text, "https://" + text):
        try:
            expected = reference(POLICY, url)
        except ValueError:  # urlsplit refuses some bracketed hosts: so must the policy
            try:
                POLICY.offline_refusal(url)
            except ValueError:
                continue
            raise AssertionError(f"{url!r} was read, urlsplit refuses it") from None
        assert POLICY.offline_refusal(url) == expected


def test_the_last_verdict_is_kept_per_policy() -> None:
    """A verdict remembered for one policy's host is never another policy's answer."""
    trusting = MediaPolicy.build(
        allow_private=True, allowed_hosts=(), mirror=None, max_bytes=1024, content_types=()
    )
    for _ in range(2):
        assert POLICY.offline_refusal("http://127.0.0.1/a.jpg") == "127.0.0.1 is a loopback address"
        assert trusting.offline_refusal("http://127.0.0.1/b.jpg") is None
        assert POLICY.offline_refusal("http://127.0.0.1/c.jpg") == "127.0.0.1 is a loopback address"
        assert (
            POLICY.offline_refusal("http://127.0.0.10/c.jpg") == "127.0.0.10 is a loopback address"
        )
        assert POLICY.offline_refusal("http://bilder.example.se/c.jpg") is None
