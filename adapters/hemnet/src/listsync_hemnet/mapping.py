"""Canonical listing <-> Hemnet BrokerAPI payloads, and Hemnet field paths -> canonical paths.

Pure functions, no I/O. Field names follow the SOAP -> BrokerAPI tables of Hemnet's guide to
migrating from its SOAP API; value shapes that Hemnet's public documents do not show are
**inferred** and marked so (`askingPrice` as whole kronor, `coordinates` as
`{latitude, longitude}`, `constructionSpan` as `{from, to}`).

The listing body is flat camelCase JSON; nested objects (`urls`, `broker`, `coordinates`,
`constructionSpan`) are always sent whole, so a PATCH of `urls` replaces both links. The agency
is not part of the body: `to_hemnet_agency` is the projection's `refs["agency"]`, which the
adapter turns into `brokerAgencyId` when it sends (an agency change is then a PATCH of
`brokerAgencyId`).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from listsync.adapter import ProjectedItem, Projection, TargetState, new_item, new_projection
from listsync.model import (
    Agency,
    Listing,
    ListingStatus,
    MediaKind,
    Money,
    Sale,
    media_url_texts,
    parse_listing,
    url_text,
)
from listsync_hemnet._housing_forms import (
    HousingForm,
    canonical_tenure,
    category_for,
    parse_code,
    tenure_for,
)

__all__ = [
    "AGENCY",
    "AGENCY_PATHS",
    "IMAGE_KINDS",
    "LISTING_PATHS",
    "TARGETS",
    "canonical_path",
    "from_hemnet_listing",
    "hemnet_images",
    "hemnet_sale",
    "hemnet_showings",
    "image_key",
    "media_urls",
    "project",
    "read_projection",
    "remote_drift",
    "showing_key",
    "text_of",
    "to_hemnet_agency",
    "to_hemnet_listing",
    "url_text",
]

AGENCY = "agency"
"""The projection's ref naming the listing's agency (`Projection.refs`): the BrokerAgency body."""

TARGETS: dict[ListingStatus, TargetState] = {
    ListingStatus.DRAFT: TargetState.DRAFT,
    ListingStatus.COMING_SOON: TargetState.PUBLISHED,
    ListingStatus.FOR_SALE: TargetState.PUBLISHED,
    ListingStatus.SOLD: TargetState.SOLD,
    ListingStatus.WITHDRAWN: TargetState.UNPUBLISHED,
}
"""The lifecycle state each canonical status asks of Hemnet."""

IMAGE_KINDS = frozenset({MediaKind.PHOTO, MediaKind.FLOOR_PLAN})
"""Media kinds Hemnet shows as listing images; videos and documents are not sent."""

LISTING_PATHS: dict[str, str] = {
    "externalId": "external_ref",
    "brokerAgencyId": "agency.external_ref",
    "tenure": "tenure",
    "housingForm": "subcategory",
    "askingPrice": "asking_price",
    "streetAddress": "address.street",
    "postCode": "address.postal_code",
    "postalArea": "address.city",
    "apartmentNumber": "address.apartment_number",
    "coordinates": "coordinates",
    "coordinates.latitude": "coordinates.lat",
    "coordinates.longitude": "coordinates.lon",
    "livingArea": "living_area",
    "supplementalArea": "supplemental_area",
    "landArea": "plot_area",
    "numberOfRooms": "rooms",
    "numberOfBedrooms": "bedrooms",
    "monthlyFee": "monthly_fee",
    "yearlyRunningCosts": "yearly_running_costs",
    "description": "description.sv",
    "tagline": "tagline.sv",
    "urls": "links",
    "urls.brokerPage": "links.broker_page",
    "urls.allImages": "links.all_images",
    "broker": "agent",
    "broker.emailAddress": "agent.email",
    "broker.phoneNumber": "agent.phone",
    "isForeclosure": "is_foreclosure",
    "isNewConstruction": "is_new_construction",
    "propertyDesignation": "property_designation",
    "constructionSpan": "construction_year",
    "constructionSpan.from": "construction_year",
    "constructionSpan.to": "construction_year",
    # Publication endpoints answer about the listing as a whole.
    "images": "media",
    "sale": "sale",
}
AGENCY_PATHS: dict[str, str] = {
    "externalId": "agency.external_ref",
    "name": "agency.name",
    "emailAddress": "agency.email",
    "visitingAddress": "agency.visiting_address",
    "visitingAddress.street": "agency.visiting_address.street",
    "visitingAddress.postcode": "agency.visiting_address.postal_code",
    "visitingAddress.postalArea": "agency.visiting_address.city",
}
IMAGE_PATHS: dict[str, str] = {"url": "media[?].url", "index": "media[?]"}
SHOWING_PATHS: dict[str, str] = {
    "startAt": "showings[?].start",
    "endAt": "showings[?].end",
    "isAllDay": "showings[?].all_day",
    "description": "showings[?].note",
}
SALE_PATHS: dict[str, str] = {
    "price": "sale.price",
    "isPricePublic": "sale.price_public",
    "soldAt": "sale.date",
}
_RESOURCE_PATHS = {
    "listing": LISTING_PATHS,
    "agency": AGENCY_PATHS,
    "image": IMAGE_PATHS,
    "showing": SHOWING_PATHS,
    "sale": SALE_PATHS,
}


def canonical_path(resource: str, field: str | None) -> str:
    """The canonical path for a Hemnet field of a resource (`listing`, `agency`, `image`,
    `showing`, `sale`). Item paths carry `[?]` until the adapter knows the canonical index.
    Unknown fields point at `extensions.hemnet.<field>`, the escape hatch for portal fields."""
    if not field:
        return "<listing>"
    paths = _RESOURCE_PATHS.get(resource, LISTING_PATHS)
    if field in paths:
        return paths[field]
    head = field.split(".", 1)[0]
    return paths.get(head, f"extensions.hemnet.{field}")


def _number(value: Decimal) -> int | float:
    """A whole number as `int`, else the nearest `float` (`numerator / denominator` is
    correctly rounded, as `float(value)` is, and does not go through text)."""
    numerator, denominator = value.as_integer_ratio()
    return numerator if denominator == 1 else numerator / denominator


def _kronor(money: Money) -> int:
    """Whole kronor (preflight rejects other currencies and öre)."""
    return int(money.amount)


def text_of(texts: dict[str, str]) -> str | None:
    """The Swedish text, else the first language given."""
    return texts.get("sv") or next(iter(texts.values()), None)


def to_hemnet_agency(agency: Agency) -> dict[str, Any]:
    """The BrokerAgency body (S002 table: no phone field exists yet)."""
    body: dict[str, Any] = {"externalId": agency.external_ref, "name": agency.name}
    if agency.email:
        body["emailAddress"] = agency.email
    if agency.visiting_address is not None:
        v = agency.visiting_address
        street = f"{v.street} {v.house_number}" if v.house_number else v.street
        address = {"street": street, "postalArea": v.city}
        if v.postal_code:
            address["postcode"] = v.postal_code.replace(" ", "")
        body["visitingAddress"] = address
    return body


def to_hemnet_listing(listing: Listing) -> dict[str, Any]:
    """The Hemnet listing body (without `brokerAgencyId`; keys with no value are left out).

    Keys come in a fixed order: identity and address, money, sizes, contacts, texts."""
    tenure, form = tenure_for(listing)
    a = listing.address
    body: dict[str, Any] = {
        "externalId": listing.external_ref,
        "tenure": tenure.value,
        "housingForm": form.code,
        "streetAddress": f"{a.street} {a.house_number}" if a.house_number else a.street,
        "postalArea": a.city,
        "isForeclosure": listing.is_foreclosure,
        "isNewConstruction": listing.is_new_construction,
    }
    if a.postal_code:
        body["postCode"] = a.postal_code.replace(" ", "")
    if a.apartment_number:
        body["apartmentNumber"] = a.apartment_number
    if (c := listing.coordinates) is not None:
        body["coordinates"] = {"latitude": c.lat, "longitude": c.lon}
    _add_money(body, listing)
    _add_sizes(body, listing)
    _add_contacts(body, listing)
    description = text_of(listing.description)
    tagline = text_of(listing.tagline) or text_of(listing.headline)
    if description:
        body["description"] = description
    if tagline:
        body["tagline"] = tagline
    if listing.property_designation:
        body["propertyDesignation"] = listing.property_designation
    return body


def _add_money(body: dict[str, Any], listing: Listing) -> None:
    if (price := listing.asking_price) is not None and not listing.price_on_request:
        body["askingPrice"] = int(price.amount)  # whole kronor: preflight refuses öre
    if (fee := listing.monthly_fee) is not None:
        body["monthlyFee"] = int(fee.amount)
    if (costs := listing.yearly_running_costs) is not None:
        body["yearlyRunningCosts"] = int(costs.amount)


def _add_sizes(body: dict[str, Any], listing: Listing) -> None:
    if (living := listing.living_area) is not None:
        body["livingArea"] = _number(living)
    if (supplemental := listing.supplemental_area) is not None:
        body["supplementalArea"] = _number(supplemental)
    if (plot := listing.plot_area) is not None:
        body["landArea"] = _number(plot)
    if (rooms := listing.rooms) is not None:
        body["numberOfRooms"] = _number(rooms)
    if listing.bedrooms is not None:
        body["numberOfBedrooms"] = listing.bedrooms
    if (year := listing.construction_year) is not None:
        body["constructionSpan"] = {"from": year, "to": year}


def _add_contacts(body: dict[str, Any], listing: Listing) -> None:
    if (links := listing.links) is not None:
        urls: dict[str, Any] = {}
        if links.broker_page:
            urls["brokerPage"] = url_text(links.broker_page)
        if links.all_images:
            urls["allImages"] = url_text(links.all_images)
        if urls:
            body["urls"] = urls
    if (agent := listing.agent) is not None:
        broker = {"emailAddress": agent.email}
        phone = agent.phone or agent.mobile
        if phone:
            broker["phoneNumber"] = phone
        body["broker"] = broker


_SHA1 = hashlib.sha1(usedforsecurity=False)
"""An empty SHA-1 to copy: `hashlib.sha1(..., usedforsecurity=False)` looks the digest up by
name in OpenSSL on every call (twice the cost of copying this one); the digest is the same."""


def image_key(url: str) -> str:
    """A stable key for an image: the sha1 of its URL (first 20 hex digits)."""
    hasher = _SHA1.copy()
    hasher.update(url.encode())
    return hasher.hexdigest()[:20]


def media_urls(listing: Listing) -> list[str]:
    """The listing's media URLs as text (`str(media.url)`), in order: preflight and projection
    both read them."""
    return media_url_texts(listing.media)


def hemnet_images(listing: Listing, urls: Sequence[str] | None = None) -> tuple[ProjectedItem, ...]:
    """Photos and floor plans in display order (`index` 0..n-1), each URL once.

    Args:
        urls: `media_urls(listing)`, when the caller has it already.
    """
    media = listing.media
    texts = media_urls(listing) if urls is None else urls
    if len(texts) != len(media):
        raise ValueError("urls must be media_urls(listing)")
    items: list[ProjectedItem] = []
    seen: set[str] = set()
    copy = _SHA1.copy
    for i, url in enumerate(texts):
        if media[i].kind not in IMAGE_KINDS or url in seen:
            continue
        seen.add(url)
        hasher = copy()  # image_key(url), inline: one call less per image
        hasher.update(url.encode())
        items.append(new_item(hasher.hexdigest()[:20], i, {"url": url, "index": len(items)}))
    return tuple(items)


def showing_key(start: dt.datetime) -> str:
    """A stable key for a showing: its start instant in UTC."""
    utc = start.astimezone(dt.UTC)
    if utc.year < 1000:  # `%Y` is not zero-padded here, `isoformat` would be
        return utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    return utc.isoformat(timespec="seconds").removesuffix("+00:00") + "Z"


@functools.lru_cache(maxsize=4096)
def _showing_key_of(start: str) -> str:
    """`showing_key` of the instant named by `start`, an aware `datetime.isoformat()` of the
    form `YYYY-MM-DDTHH:MM:SS+HH:MM` (25 characters: whole seconds, an offset in minutes; such a
    text holds the whole instant and `fromisoformat` reads it back exactly). Kept per text:
    listings share showing times, and converting a validated datetime to UTC costs more than
    the rest of its item."""
    return showing_key(dt.datetime.fromisoformat(start))


def hemnet_showings(listing: Listing) -> tuple[ProjectedItem, ...]:
    """Showings keyed by start instant; `endAt`/`description` are null when absent."""
    items: dict[str, ProjectedItem] = {}
    for i, showing in enumerate(listing.showings):
        start = showing.start
        text = start.isoformat()
        # Other forms (microseconds, offsets with seconds: Python 3.11's `fromisoformat` drops
        # an offset's microseconds) are converted as they are.
        key = _showing_key_of(text) if len(text) == 25 else showing_key(start)
        if key in items:
            continue
        end = showing.end
        payload = {
            "startAt": text,
            "endAt": end.isoformat() if end is not None else None,
            "isAllDay": showing.all_day,
            "description": showing.note,
        }
        items[key] = new_item(key, i, payload)
    return tuple(items.values())


def hemnet_sale(sale: Sale) -> dict[str, Any]:
    """The body of the sale action."""
    return {
        "price": _kronor(sale.price),
        "isPricePublic": sale.price_public,
        "soldAt": sale.date.isoformat(),
    }


def project(listing: Listing, urls: Sequence[str] | None = None) -> Projection:
    """Everything Hemnet should hold for `listing`: the listing body, the agency ref, images,
    showings, the lifecycle target and the sale. No rules are applied (see rules.py).

    Args:
        urls: `media_urls(listing)`, when the caller has it already.
    """
    target = TARGETS[listing.status]
    sale = None
    if target is TargetState.SOLD and listing.sale is not None:
        sale = hemnet_sale(listing.sale)
    return new_projection(
        listing.external_ref,
        to_hemnet_listing(listing),
        refs={AGENCY: to_hemnet_agency(listing.agency)},
        media=hemnet_images(listing, urls),
        showings=hemnet_showings(listing),
        target=target,
        sale=sale,
    )


def _sek(value: Any) -> Money | None:
    return Money(amount=Decimal(str(value)), currency="SEK") if value is not None else None


def _read_address(data: dict[str, Any]) -> dict[str, Any]:
    return {
        "country": "SE",
        "street": data.get("streetAddress") or "-",
        "postal_code": data.get("postCode"),
        "city": data.get("postalArea") or "-",
        "apartment_number": data.get("apartmentNumber"),
    }


def _read_optional(data: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "asking_price": _sek(data.get("askingPrice")),
        "monthly_fee": _sek(data.get("monthlyFee")),
        "yearly_running_costs": _sek(data.get("yearlyRunningCosts")),
        "living_area": data.get("livingArea"),
        "supplemental_area": data.get("supplementalArea"),
        "plot_area": data.get("landArea"),
        "rooms": data.get("numberOfRooms"),
        "bedrooms": data.get("numberOfBedrooms"),
        "property_designation": data.get("propertyDesignation"),
        "construction_year": (data.get("constructionSpan") or {}).get("from"),
    }
    if coords := data.get("coordinates"):
        out["coordinates"] = {"lat": coords["latitude"], "lon": coords["longitude"]}
    if urls := data.get("urls"):
        out["links"] = {"broker_page": urls.get("brokerPage"), "all_images": urls.get("allImages")}
    if broker := data.get("broker"):
        out["agent"] = {
            "last_name": broker.get("emailAddress", "-").split("@")[0] or "-",
            "email": broker.get("emailAddress"),
            "phone": broker.get("phoneNumber"),
        }
    return {k: v for k, v in out.items() if v is not None}


def remote_status(data: dict[str, Any]) -> str:
    """The canonical lifecycle status of a Hemnet listing body."""
    if data.get("sale"):
        return "sold"
    if data.get("isPublished"):
        return "for_sale"
    return "withdrawn" if data.get("unpublishedAt") else "draft"


def from_hemnet_listing(
    data: dict[str, Any],
    *,
    agency: Agency,
    images: list[dict[str, Any]] | None = None,
    showings: list[dict[str, Any]] | None = None,
) -> Listing:
    """A canonical listing from a Hemnet listing body (plus its images and showings).

    The raw housing-form code is kept as `subcategory` (so 620 survives a round trip) and the
    category comes from its series. Hemnet does not return the agent's name; it is derived
    from the e-mail address. Raises `InvalidListingError` when Hemnet holds data the canonical
    model refuses.
    """
    form = parse_code(data.get("housingForm")) or HousingForm(900)
    status = remote_status(data)
    record: dict[str, Any] = {
        "external_ref": data["externalId"],
        "agency": agency.model_dump(exclude_none=True),
        "category": category_for(form).value,
        "subcategory": str(form.code),
        "tenure": canonical_tenure(data.get("tenure")).value,
        "status": status,
        "is_foreclosure": bool(data.get("isForeclosure")),
        "is_new_construction": bool(data.get("isNewConstruction")),
        "address": _read_address(data),
        **_read_optional(data),
    }
    for canonical, key in (("description", "description"), ("tagline", "tagline")):
        if data.get(key):
            record[canonical] = {"sv": data[key]}
    if sale := data.get("sale"):
        record["sale"] = {
            "price": {"amount": str(sale["price"]), "currency": "SEK"},
            "date": str(sale.get("soldAt") or "")[:10] or None,
            "price_public": bool(sale.get("isPricePublic", True)),
        }
    ordered = sorted(images or [], key=lambda image: int(image.get("index", 0)))
    record["media"] = [{"url": image["url"]} for image in ordered]
    record["showings"] = [_read_showing(s) for s in showings or []]
    return parse_listing(record)


def _read_showing(data: dict[str, Any]) -> dict[str, Any]:
    return {
        "start": data["startAt"],
        "end": data.get("endAt"),
        "all_day": bool(data.get("isAllDay")),
        "note": data.get("description"),
    }


def remote_drift(sent: dict[str, Any], remote: dict[str, Any]) -> dict[str, Any]:
    """Sent fields whose read-back value differs, comparing `housingForm` by series rules.

    A sent 601 read back as 600 (Hemnet removed 601) is not drift; neither is 620 vs 600.
    Fields listsync does not send (`id`, `isVisible`, ...) are ignored.
    """
    drift: dict[str, Any] = {}
    for key, value in sent.items():
        got = remote.get(key)
        if key == "housingForm":
            a, b = parse_code(value), parse_code(got)
            if a is not None and b is not None and a.equivalent(b):
                continue
        if got != value:
            drift[key] = got
    return drift


SENT_FIELDS: frozenset[str] = frozenset(
    name
    for name in LISTING_PATHS
    if "." not in name and name not in {"brokerAgencyId", "images", "sale"}
)
"""The listing fields `to_hemnet_listing` can send: the only ones read back into a projection
(fields listsync never sends, such as `id` or `isVisible`, are not drift)."""

_SHOWING_FIELDS = ("startAt", "endAt", "isAllDay", "description")
_SALE_FIELDS = ("price", "isPricePublic", "soldAt")


def remote_target(data: dict[str, Any]) -> TargetState:
    """The lifecycle state of a Hemnet listing body in projection terms: a sale -> SOLD,
    published -> PUBLISHED, unpublished after a publication -> UNPUBLISHED, never -> DRAFT."""
    if data.get("sale"):
        return TargetState.SOLD
    if data.get("isPublished"):
        return TargetState.PUBLISHED
    return TargetState.UNPUBLISHED if data.get("unpublishedAt") else TargetState.DRAFT


def _read_form(value: Any, like: Any) -> Any:
    """The housing form as `project` would send it: `like`'s code when the two are equivalent
    under the series rules (a removed 601 read back as 600, an unknown 620 for 600), else the
    code listsync acts on (620 -> 600)."""
    got = parse_code(value)
    if got is None:
        return value
    wanted = parse_code(like)
    if wanted is not None and wanted.equivalent(got):
        return like
    return got.effective if got.effective is not None else value


def _read_fields(data: dict[str, Any], like: dict[str, Any]) -> dict[str, Any]:
    fields = {k: v for k, v in data.items() if k in SENT_FIELDS and v is not None}
    if "housingForm" in fields:
        fields["housingForm"] = _read_form(fields["housingForm"], like.get("housingForm"))
    return fields


def _read_agency(agency: dict[str, Any] | None, like: Any) -> dict[str, Any] | None:
    """The agency ref in `to_hemnet_agency` terms. The adapter never changes an agency's
    details on Hemnet (there is no agency PATCH), so `like`'s ref stands for the same agency
    (same `externalId`): only a different agency is drift."""
    if agency is None:
        return None
    if isinstance(like, dict) and like.get("externalId") == agency.get("externalId"):
        return dict(like)
    keys = ("externalId", "name", "emailAddress", "visitingAddress")
    return {k: agency[k] for k in keys if agency.get(k) is not None}


def _read_images(
    images: list[dict[str, Any]], like: tuple[ProjectedItem, ...]
) -> tuple[tuple[ProjectedItem, ...], dict[str, str]]:
    """Images keyed as `hemnet_images` keys them (the URL's hash). A second image with the same
    URL gets a key of its own (`<key>~2`), so the diff removes the duplicate."""
    wanted = {item.key: item.canonical_index for item in like}
    items: list[ProjectedItem] = []
    ids: dict[str, str] = {}
    ordered = sorted(images, key=lambda image: (_int(image.get("index")), str(image.get("id"))))
    for position, image in enumerate(ordered):
        url = str(image.get("url"))
        key = image_key(url)
        copies = 1
        while key in ids:
            copies += 1
            key = f"{image_key(url)}~{copies}"
        index = _int(image.get("index"), position)
        items.append(new_item(key, wanted.get(key, position), {"url": url, "index": index}))
        ids[key] = str(image["id"])
    return tuple(items), ids


def _int(value: Any, default: int = 0) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _instant(value: Any) -> dt.datetime | None:
    try:
        parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def _read_showings(
    showings: list[dict[str, Any]], like: tuple[ProjectedItem, ...]
) -> tuple[tuple[ProjectedItem, ...], dict[str, str]]:
    """Showings keyed by start instant, as `hemnet_showings` keys them. Times that are the
    same instant as `like`'s are read back as `like`'s text (Hemnet may answer in another
    offset); a second showing at the same start gets a key of its own (`<key>~2`)."""
    wanted = {item.key: item for item in like}
    items: list[ProjectedItem] = []
    ids: dict[str, str] = {}
    for position, showing in enumerate(showings):
        start = _instant(showing.get("startAt"))
        base = showing_key(start) if start is not None else f"?{showing.get('startAt')}"
        key, copies = base, 1
        while key in ids:
            copies += 1
            key = f"{base}~{copies}"
        payload = {name: showing.get(name) for name in _SHOWING_FIELDS}
        payload["isAllDay"] = bool(payload["isAllDay"])
        match = wanted.get(key)
        if match is not None:
            for name in ("startAt", "endAt"):
                mine, theirs = match.payload.get(name), payload[name]
                if mine is not None and theirs is not None and _instant(mine) == _instant(theirs):
                    payload[name] = mine
        index = match.canonical_index if match is not None else position
        items.append(new_item(key, index, payload))
        ids[key] = str(showing["id"])
    return tuple(items), ids


def _read_sale(sale: Any) -> dict[str, Any] | None:
    if not isinstance(sale, dict):
        return None
    out = {name: sale.get(name) for name in _SALE_FIELDS}
    if out["soldAt"] is not None:
        out["soldAt"] = str(out["soldAt"])[:10]  # the date `hemnet_sale` sends
    return out


def read_projection(
    data: dict[str, Any],
    *,
    agency: dict[str, Any] | None,
    images: list[dict[str, Any]],
    showings: list[dict[str, Any]],
    like: Projection | None = None,
) -> tuple[Projection, dict[str, str]]:
    """What Hemnet holds, in `project`'s terms, and the portal ids of its images and showings
    by item key: `diff_projection(read, desired)` is then exactly the drift.

    Read from the portal: the sent fields (`SENT_FIELDS`, unset ones left out), the agency (the
    BrokerAgency body `brokerAgencyId` points at), images and showings (keys derived from the
    URL and the start instant as `project` derives them), the target (`remote_target`) and the
    sale. Taken from `like` (the projection listsync would send) only where Hemnet cannot tell
    or says the same thing differently:

    - `housingForm`: compared by series as Hemnet's migration guide requires (`_read_form`);
    - `refs["agency"]`: the same agency (`externalId`) stands for `like`'s details (`_read_agency`);
    - showing times that are the same instant keep `like`'s text;
    - `canonical_index` of items (a position in the canonical listing, unknown to Hemnet);
    - `target`: DRAFT and UNPUBLISHED are the same on Hemnet (not published, no sale): an
      unpublished record reads back as `like`'s target when that is one of the two.
    """
    like_fields = like.fields if like is not None else {}
    target = remote_target(data)
    if (
        like is not None
        and target in (TargetState.DRAFT, TargetState.UNPUBLISHED)
        and like.target in (TargetState.DRAFT, TargetState.UNPUBLISHED)
    ):
        target = like.target
    agency_ref = _read_agency(agency, like.refs.get(AGENCY) if like is not None else None)
    media, media_ids = _read_images(images, like.media if like is not None else ())
    shows, show_ids = _read_showings(showings, like.showings if like is not None else ())
    projection = Projection(
        external_ref=str(data.get("externalId") or (like.external_ref if like else "")),
        fields=_read_fields(data, like_fields),
        refs={AGENCY: agency_ref} if agency_ref is not None else {},
        media=media,
        showings=shows,
        target=target,
        sale=_read_sale(data.get("sale")) if target is TargetState.SOLD else None,
    )
    return projection, {**media_ids, **show_ids}
