"""Hemnet's offline rules: what Hemnet would refuse, found without a request.

Sources: Hemnet's guide to migrating from its SOAP API says only Swedish listings are accepted
and the municipality is computed from the coordinates; its listing-lifecycle guide says
publishing needs at least one image; its BrokerAPI guide's ValidationError example shows URLs
are validated; images are fetched by Hemnet's servers (so they need a public http(s) URL).
Limits marked **inferred** are ours, chosen to match the sandbox; change them when the Swagger
says otherwise.

Every issue carries the id of the rule that found it (`FieldIssue.rule`), one of `RULES`; the
ids are stable (reports, status and integrators' code may match on them).
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Sequence
from decimal import Decimal
from urllib.parse import urlsplit

from listsync.errors import FieldIssue, Severity
from listsync.model import Category, Listing, ListingStatus, Money, Tenure, Transaction
from listsync_hemnet._housing_forms import RESIDENTIAL, housing_form_for, parse_code
from listsync_hemnet.mapping import IMAGE_KINDS, media_urls, text_of
from listsync_hemnet.settings import PORTAL

__all__ = ["MAX_IMAGES", "RULES", "SWEDEN_BOUNDS", "check_url", "preflight"]

RULES: dict[str, str] = {
    "sweden-only": "Hemnet accepts Swedish listings only",
    "postal-code-required": "Hemnet needs the postal code",
    "sale-only": "Hemnet lists homes for sale, not for rent",
    "residential-only": "Hemnet lists residential property only",
    "housing-form-unknown": "a housing-form code outside Hemnet's series",
    "housing-form-category": "the housing-form code belongs to the listing's category",
    "housing-form-new": "a housing-form code Hemnet may not know yet is sent as its series",
    "tenure-unknown": "buyers on Hemnet expect a known tenure",
    "amount-sek": "Hemnet takes amounts in SEK",
    "amount-whole-kronor": "Hemnet takes whole kronor",
    "amount-plausible": "amounts below ten billion kronor",
    "size-limit": "areas and room counts within plausible limits (inferred)",
    "apartment-number": "Skatteverket's 4-digit apartment number",
    "coordinates-sweden": "coordinates in Sweden (WGS84)",
    "public-url": "URLs Hemnet's servers can fetch: absolute http(s), not local or private",
    "images-only": "only photos and floor plans are sent to Hemnet",
    "image-limit": "at most 100 images per listing (inferred)",
    "publish-asking-price": "publishing needs an asking price (or price on request)",
    "publish-coordinates": "publishing needs coordinates (Hemnet derives the municipality)",
    "publish-living-area": "publishing needs the living area (not for plots and other)",
    "publish-description": "publishing needs a description",
    "publish-image": "publishing needs at least one image",
    "description-swedish": "Hemnet's buyers read Swedish",
    "image-failed": "Hemnet could not process an image (found while publishing)",
}
"""Rule id -> what the rule checks: every id an issue of this adapter can carry."""

MAX_IMAGES = 100
"""Most images per listing (**inferred**)."""
SWEDEN_BOUNDS = (55.0, 69.1, 10.5, 24.2)
"""(min lat, max lat, min lon, max lon) of Sweden, for the coordinates check."""
MAX_PRICE = Decimal(10_000_000_000)
_APARTMENT_NUMBER = re.compile(r"^\d{4}$")
_PUBLISHED = frozenset({ListingStatus.FOR_SALE, ListingStatus.COMING_SOON})
# An http(s) URL whose network location is a bare host name or IPv4 address (no user, port,
# brackets, escapes or whitespace): `urlsplit(url).hostname` is then that part in lower case.
_PLAIN_HTTP_URL = re.compile(r"https?://([A-Za-z0-9.-]+)(?:[/?#]|\Z)")


def _issue(
    rule: str, path: str, message: str, field: str | None, severity: Severity = Severity.ERROR
) -> FieldIssue:
    return FieldIssue(
        path=path,
        message=message,
        portal=PORTAL,
        portal_field=field,
        rule=rule,
        severity=severity,
    )


_last_plain: tuple[str, str | None] = ("", None)
"""The `scheme://host/` of the last plain URL `check_url` judged, with its verdict: a listing's
images share one host, and any URL that starts so has that host (the pattern stops at "/")."""


def check_url(url: str) -> str | None:
    """Why Hemnet's servers could not use `url`, or None when it looks fetchable."""
    global _last_plain  # noqa: PLW0603  (one tuple, replaced whole: safe across threads)
    prefix, verdict = _last_plain
    if prefix and url.startswith(prefix):
        return verdict
    plain = _PLAIN_HTTP_URL.match(url)
    if plain is not None:  # what `urlsplit` would find, without splitting (the common case)
        verdict = _host_problem(plain.group(1).lower())
        if plain.group(0).endswith("/"):
            _last_plain = (plain.group(0), verdict)
        return verdict
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "must be an absolute http(s) URL"
    return _host_problem(parts.hostname)


@functools.lru_cache(maxsize=4096)
def _host_problem(host: str) -> str | None:
    """`check_url`'s verdict on a (lower-case) host name; a few hosts serve every image."""
    if host == "localhost" or host.endswith((".local", ".localhost", ".internal")):
        return "must be reachable from Hemnet's servers (not a local host)"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if address.is_private or address.is_loopback or address.is_link_local:
        return "must be reachable from Hemnet's servers (not a private address)"
    return None


def _market(listing: Listing) -> list[FieldIssue]:
    issues = []
    if listing.address.country != "SE":
        issues.append(
            _issue("sweden-only", "address.country", "Hemnet accepts Swedish listings only", None)
        )
    if not listing.address.postal_code:
        issues.append(
            _issue("postal-code-required", "address.postal_code", "required by Hemnet", "postCode")
        )
    if listing.transaction is Transaction.RENT:
        issues.append(_issue("sale-only", "transaction", "Hemnet lists homes for sale only", None))
    if listing.category not in RESIDENTIAL:
        issues.append(
            _issue(
                "residential-only",
                "category",
                "Hemnet lists residential property only",
                "housingForm",
            )
        )
    issues += _housing_form(listing)
    if listing.tenure is Tenure.UNKNOWN:
        issues.append(
            _issue(
                "tenure-unknown",
                "tenure",
                "tenure is unknown to Hemnet's buyers",
                "tenure",
                Severity.WARNING,
            )
        )
    return issues


def _housing_form(listing: Listing) -> list[FieldIssue]:
    given = parse_code(listing.subcategory)
    if given is None:
        return []  # not a Hemnet code (e.g. another portal's subtype): the category decides
    series = housing_form_for(listing.category, None).series
    if given.series is None:
        return [
            _issue(
                "housing-form-unknown",
                "subcategory",
                f"unknown housing form {given.code}",
                "housingForm",
            )
        ]
    if given.series != series:
        message = f"housing form {given.code} does not belong to category {listing.category}"
        return [_issue("housing-form-category", "subcategory", message, "housingForm")]
    if not given.known:
        message = f"housing form {given.code} is unknown here; {given.series} is sent"
        return [_issue("housing-form-new", "subcategory", message, "housingForm", Severity.WARNING)]
    return []


def _money(listing: Listing) -> list[FieldIssue]:
    issues = []
    fields: dict[str, tuple[Money | None, str]] = {
        "asking_price": (listing.asking_price, "askingPrice"),
        "monthly_fee": (listing.monthly_fee, "monthlyFee"),
        "yearly_running_costs": (listing.yearly_running_costs, "yearlyRunningCosts"),
        "sale.price": (listing.sale.price if listing.sale else None, "price"),
    }
    for path, (money, field) in fields.items():
        if money is None:
            continue
        if money.currency != "SEK":
            issues.append(
                _issue("amount-sek", f"{path}.currency", "Hemnet takes amounts in SEK", field)
            )
        elif money.amount != money.amount.to_integral_value():
            issues.append(
                _issue("amount-whole-kronor", f"{path}.amount", "must be whole kronor", field)
            )
        elif money.amount >= MAX_PRICE:
            issues.append(
                _issue("amount-plausible", f"{path}.amount", "is implausibly large", field)
            )
    return issues


def _ranges(listing: Listing) -> list[FieldIssue]:
    issues = []
    limits = {
        ("living_area", "livingArea"): (listing.living_area, 10_000),
        ("supplemental_area", "supplementalArea"): (listing.supplemental_area, 10_000),
        ("plot_area", "landArea"): (listing.plot_area, 100_000_000),
        ("rooms", "numberOfRooms"): (listing.rooms, 100),
    }
    for (path, field), (value, top) in limits.items():
        if value is not None and value > top:
            issues.append(_issue("size-limit", path, f"must be at most {top}", field))
    number = listing.address.apartment_number
    if number and not _APARTMENT_NUMBER.match(number):
        message = "must be Skatteverket's 4-digit apartment number (e.g. 1102)"
        issues.append(
            _issue("apartment-number", "address.apartment_number", message, "apartmentNumber")
        )
    if listing.coordinates is not None:
        lat_min, lat_max, lon_min, lon_max = SWEDEN_BOUNDS
        c = listing.coordinates
        if not (lat_min <= c.lat <= lat_max and lon_min <= c.lon <= lon_max):
            issues.append(
                _issue(
                    "coordinates-sweden", "coordinates", "must lie in Sweden (WGS84)", "coordinates"
                )
            )
    return issues


def _urls(listing: Listing, urls: Sequence[str]) -> list[FieldIssue]:
    issues = []
    if listing.links is not None:
        for path, field, url in (
            ("links.broker_page", "urls.brokerPage", listing.links.broker_page),
            ("links.all_images", "urls.allImages", listing.links.all_images),
        ):
            problem = check_url(str(url)) if url is not None else None
            if problem:
                issues.append(_issue("public-url", path, problem, field))
    images = 0
    for i, (media, text) in enumerate(zip(listing.media, urls, strict=True)):
        if media.kind not in IMAGE_KINDS:
            message = f"{media.kind} is not sent to Hemnet (images only)"
            issues.append(_issue("images-only", f"media[{i}]", message, None, Severity.WARNING))
            continue
        images += 1
        problem = check_url(text)
        if problem:
            issues.append(_issue("public-url", f"media[{i}].url", problem, "url"))
    if images > MAX_IMAGES:
        issues.append(_issue("image-limit", "media", f"at most {MAX_IMAGES} images", "images"))
    return issues


def _publishing(listing: Listing) -> list[FieldIssue]:
    """Fields Hemnet needs before a listing can be published."""
    if listing.status not in _PUBLISHED:
        return []
    issues = []
    if listing.asking_price is None and not listing.price_on_request:
        issues.append(
            _issue("publish-asking-price", "asking_price", "required for publishing", "askingPrice")
        )
    if listing.coordinates is None:
        message = "required for publishing (Hemnet derives the municipality from it)"
        issues.append(_issue("publish-coordinates", "coordinates", message, "coordinates"))
    if listing.living_area is None and listing.category not in (Category.PLOT, Category.OTHER):
        issues.append(
            _issue("publish-living-area", "living_area", "required for publishing", "livingArea")
        )
    if not text_of(listing.description):
        issues.append(
            _issue(
                "publish-description", "description.sv", "required for publishing", "description"
            )
        )
    if not any(m.kind in IMAGE_KINDS for m in listing.media):
        issues.append(
            _issue("publish-image", "media", "at least one image is required to publish", "images")
        )
    if listing.description and "sv" not in listing.description:
        message = "no Swedish description; another language is sent"
        issues.append(
            _issue(
                "description-swedish", "description.sv", message, "description", Severity.WARNING
            )
        )
    return issues


def preflight(listing: Listing, *, urls: Sequence[str] | None = None) -> list[FieldIssue]:
    """Every Hemnet issue of `listing`; errors block sending, warnings are reported.

    Args:
        urls: `mapping.media_urls(listing)`, when the caller has it already.
    """
    return [
        *_market(listing),
        *_money(listing),
        *_ranges(listing),
        *_urls(listing, media_urls(listing) if urls is None else urls),
        *_publishing(listing),
    ]
