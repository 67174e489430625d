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
from listsync_hemnet.mapping import IMAGE_KINDS, media_urls, text_of, url_text
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
_MAX_AREA = Decimal(10_000)  # square metres, living and supplemental (**inferred**)
_MAX_PLOT = Decimal(100_000_000)
_MAX_ROOMS = Decimal(100)
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
_plain_verdicts: dict[str, str | None] = {}
"""Every plain `scheme://host/` judged (up to `_PLAIN_KEPT`), with its verdict: a listing's
links and its images are on different hosts, so the last one alone misses twice a listing."""
_PLAIN_KEPT = 4096
_UNSEEN = "?"


def check_url(url: str) -> str | None:
    """Why Hemnet's servers could not use `url`, or None when it looks fetchable."""
    global _last_plain  # noqa: PLW0603  (one tuple, replaced whole: safe across threads)
    prefix, verdict = _last_plain
    if prefix and url.startswith(prefix):
        return verdict
    # A known `scheme://host/` is the text up to the first "/" after "scheme://"; any other
    # text found there is simply not in the table.
    start = url[: url.find("/", 8) + 1]
    known = _plain_verdicts.get(start, _UNSEEN)
    if known is not _UNSEEN:
        _last_plain = (start, known)
        return known
    plain = _PLAIN_HTTP_URL.match(url)
    if plain is not None:  # what `urlsplit` would find, without splitting (the common case)
        verdict = _host_problem(plain.group(1).lower())
        if (start := plain.group(0)).endswith("/"):
            if len(_plain_verdicts) >= _PLAIN_KEPT:
                _plain_verdicts.clear()
            _plain_verdicts[start] = verdict
            _last_plain = (start, verdict)
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


def _market(listing: Listing, issues: list[FieldIssue]) -> None:
    address = listing.address
    if address.country != "SE":
        issues.append(
            _issue("sweden-only", "address.country", "Hemnet accepts Swedish listings only", None)
        )
    if not address.postal_code:
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
    issues += _housing_form(listing.category, listing.subcategory)
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


@functools.lru_cache(maxsize=1024)
def _housing_form(category: Category, subcategory: str | None) -> tuple[FieldIssue, ...]:
    """The housing-form issues of a (category, subcategory): kept per pair (issues are frozen,
    and a few pairs make most listings)."""
    given = parse_code(subcategory)
    if given is None:
        return ()  # not a Hemnet code (e.g. another portal's subtype): the category decides
    series = housing_form_for(category, None).series
    if given.series is None:
        return (
            _issue(
                "housing-form-unknown",
                "subcategory",
                f"unknown housing form {given.code}",
                "housingForm",
            ),
        )
    if given.series != series:
        message = f"housing form {given.code} does not belong to category {category}"
        return (_issue("housing-form-category", "subcategory", message, "housingForm"),)
    if not given.known:
        message = f"housing form {given.code} is unknown here; {given.series} is sent"
        return (
            _issue("housing-form-new", "subcategory", message, "housingForm", Severity.WARNING),
        )
    return ()


def _money(listing: Listing, issues: list[FieldIssue]) -> None:
    if (price := listing.asking_price) is not None:
        _amount(price, "asking_price", "askingPrice", issues)
    if (fee := listing.monthly_fee) is not None:
        _amount(fee, "monthly_fee", "monthlyFee", issues)
    if (costs := listing.yearly_running_costs) is not None:
        _amount(costs, "yearly_running_costs", "yearlyRunningCosts", issues)
    if (sale := listing.sale) is not None:
        _amount(sale.price, "sale.price", "price", issues)


def _amount(money: Money, path: str, field: str, issues: list[FieldIssue]) -> None:
    amount = money.amount
    if money.currency != "SEK":
        issues.append(
            _issue("amount-sek", f"{path}.currency", "Hemnet takes amounts in SEK", field)
        )
    elif amount != amount.to_integral_value():
        issues.append(
            _issue("amount-whole-kronor", f"{path}.amount", "must be whole kronor", field)
        )
    elif amount >= MAX_PRICE:
        issues.append(_issue("amount-plausible", f"{path}.amount", "is implausibly large", field))


def _ranges(listing: Listing, issues: list[FieldIssue]) -> None:
    # Straight tests, not a table: most listings have every size, all within the limits.
    if (living := listing.living_area) is not None and living > _MAX_AREA:
        issues.append(_too_big("living_area", "livingArea", _MAX_AREA))
    if (extra := listing.supplemental_area) is not None and extra > _MAX_AREA:
        issues.append(_too_big("supplemental_area", "supplementalArea", _MAX_AREA))
    if (plot := listing.plot_area) is not None and plot > _MAX_PLOT:
        issues.append(_too_big("plot_area", "landArea", _MAX_PLOT))
    if (rooms := listing.rooms) is not None and rooms > _MAX_ROOMS:
        issues.append(_too_big("rooms", "numberOfRooms", _MAX_ROOMS))
    number = listing.address.apartment_number
    if number and not _APARTMENT_NUMBER.match(number):
        message = "must be Skatteverket's 4-digit apartment number (e.g. 1102)"
        issues.append(
            _issue("apartment-number", "address.apartment_number", message, "apartmentNumber")
        )
    if (c := listing.coordinates) is not None:
        lat_min, lat_max, lon_min, lon_max = SWEDEN_BOUNDS
        if not (lat_min <= c.lat <= lat_max and lon_min <= c.lon <= lon_max):
            issues.append(
                _issue(
                    "coordinates-sweden", "coordinates", "must lie in Sweden (WGS84)", "coordinates"
                )
            )


def _too_big(path: str, field: str, top: Decimal) -> FieldIssue:
    return _issue("size-limit", path, f"must be at most {top}", field)


def _urls(listing: Listing, urls: Sequence[str], issues: list[FieldIssue]) -> int:
    """The URL issues; returns how many media items are images."""
    if (links := listing.links) is not None:
        if links.broker_page is not None and (problem := check_url(url_text(links.broker_page))):
            issues.append(_issue("public-url", "links.broker_page", problem, "urls.brokerPage"))
        if links.all_images is not None and (problem := check_url(url_text(links.all_images))):
            issues.append(_issue("public-url", "links.all_images", problem, "urls.allImages"))
    media = listing.media
    if len(urls) != len(media):
        raise ValueError("urls must be mapping.media_urls(listing)")
    images = 0
    # `check_url`'s first test, inline: a listing's images share a host, so most of them
    # start with the prefix the previous call kept.
    prefix, verdict = _last_plain
    for i, text in enumerate(urls):
        kind = media[i].kind
        if kind not in IMAGE_KINDS:
            message = f"{kind} is not sent to Hemnet (images only)"
            issues.append(_issue("images-only", f"media[{i}]", message, None, Severity.WARNING))
            continue
        images += 1
        if prefix and text.startswith(prefix):
            problem = verdict
        else:
            problem = check_url(text)
            prefix, verdict = _last_plain
        if problem:
            issues.append(_issue("public-url", f"media[{i}].url", problem, "url"))
    if images > MAX_IMAGES:
        issues.append(_issue("image-limit", "media", f"at most {MAX_IMAGES} images", "images"))
    return images


def _publishing(listing: Listing, images: int, issues: list[FieldIssue]) -> None:
    """Fields Hemnet needs before a listing can be published (`images`: how many media items
    are images)."""
    if listing.status not in _PUBLISHED:
        return
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
    description = listing.description
    if not text_of(description):
        issues.append(
            _issue(
                "publish-description", "description.sv", "required for publishing", "description"
            )
        )
    if not images:
        issues.append(
            _issue("publish-image", "media", "at least one image is required to publish", "images")
        )
    if description and "sv" not in description:
        message = "no Swedish description; another language is sent"
        issues.append(
            _issue(
                "description-swedish", "description.sv", message, "description", Severity.WARNING
            )
        )


def preflight(listing: Listing, *, urls: Sequence[str] | None = None) -> list[FieldIssue]:
    """Every Hemnet issue of `listing`; errors block sending, warnings are reported.

    Order: market (country, postal code, transaction, category, housing form, tenure), money,
    ranges, URLs (links, then media in order, then the image count), publishing.

    Args:
        urls: `mapping.media_urls(listing)`, when the caller has it already.
    """
    issues: list[FieldIssue] = []
    _market(listing, issues)
    _money(listing, issues)
    _ranges(listing, issues)
    images = _urls(listing, media_urls(listing) if urls is None else urls, issues)
    _publishing(listing, images, issues)
    return issues
