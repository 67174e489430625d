"""The 21 business rules of the Immowelt listing import API v1, checked offline.

Source: the "Business Rules" section of Immowelt's listing import API document. Each rule is
one function over the mapped import payload; each issue carries the canonical path, the portal's
JSON pointer (`portal_field`) and the rule id (`rule-07`). `check_all` runs every rule that
needs no state; rule 11 compares two payloads and is applied by the adapter's `plan` against
the last sent projection. `currency_issues` is listsync's own check: the payload's amounts
carry no currency, so an amount in another currency than EUR would be sent as euros. A field a
rule looks up in a vocabulary but holding another JSON type (an extension can put anything
anywhere) is an issue of that rule naming the type, never an exception: one odd listing must
not abort a run.

Where the document leaves a vocabulary open (project types, most estate sub-types), the tables
below say what is assumed; the sandbox enforces the same documented facts independently.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from listsync.errors import FieldIssue
from listsync.model import Listing, Money
from listsync_immowelt._payload import (
    DATE_SUFFIXES,
    PERCENT_SUFFIXES,
    URL_SUFFIXES,
    Leaf,
    Payload,
    is_marked,
    leaves_under,
    marked_leaves_under,
    value_at,
)
from listsync_immowelt._rule_support import (
    DATE_RE,
    DISTRIBUTION_SUBTYPES,
    EARLIEST_NEW_BUILD,
    EMAIL_RE,
    HTML_RE,
    MAX_COUNT,
    MAX_PRICE,
    MAX_SPACE,
    MAX_TEXT,
    NEW_BUILD,
    PHONE_RE,
    PHONE_START_RE,
    PROJECT_DISTRIBUTION,
    PROJECT_ESTATE,
    SUBTYPES,
    TEXT_EMAIL_RE,
    TEXT_PHONE_RE,
    TEXT_URL_RE,
    URL_RE,
    is_in,
    is_number,
    make_issue,
    not_strings,
    texts_of,
    type_issue,
)
from listsync_immowelt.mapping import SUBTYPE_KEY
from listsync_immowelt.settings import PORTAL

__all__ = [
    "RULES",
    "check_all",
    "check_mapped",
    "currency_issues",
    "rule_11_estate_type_unchanged",
]

Rule = Callable[[Payload, Listing | None], list[FieldIssue]]


def rule_01_text_length(payload: Payload, listing: Listing | None) -> list[FieldIssue]:
    """Multilingual texts are at most 3999 characters."""
    return _text_length(texts_of(payload), listing)


def _text_length(texts: Iterable[Leaf], listing: Listing | None) -> list[FieldIssue]:
    return [
        make_issue(p, f"text longer than {MAX_TEXT} characters ({len(v)})", 1, listing)
        for p, v in texts
        if isinstance(v, str) and len(v) > MAX_TEXT
    ]


def rule_02_email(payload: Payload, listing: Listing | None) -> list[FieldIssue]:
    """Contact e-mail addresses are well-formed (at most 320 characters)."""
    return _email(value_at(payload, "/contact/emailAddress"), listing)


def _email(value: Any, listing: Listing | None) -> list[FieldIssue]:
    if value is None or (isinstance(value, str) and len(value) <= 320 and EMAIL_RE.match(value)):
        return []
    return [make_issue("/contact/emailAddress", "not a valid e-mail address", 2, listing)]


def rule_03_phone(payload: Payload, listing: Listing | None) -> list[FieldIssue]:
    """Contact phone numbers match the portal's regex (digits, '+', '-', ' ', '/')."""
    phone = value_at(payload, "/contact/phoneNumber")
    return _phones(phone, value_at(payload, "/contact/mobilePhoneNumber"), listing)


def _phones(phone: Any, mobile: Any, listing: Listing | None) -> list[FieldIssue]:
    out = []
    for pointer, value in (("/contact/phoneNumber", phone), ("/contact/mobilePhoneNumber", mobile)):
        if value is not None and not (isinstance(value, str) and PHONE_RE.match(value)):
            msg = "not a valid phone number (e.g. +49 30 1234567)"
            out.append(make_issue(pointer, msg, 3, listing))
    return out


def _date_fields(leaves: Iterable[Leaf]) -> Iterator[Leaf]:
    # A suffix without "/" of the pointer is a suffix of its last key: no need to split.
    for pointer, value in leaves:
        if pointer.endswith(DATE_SUFFIXES):
            yield pointer, value


def _parse_date(value: Any) -> dt.date | None:
    if not isinstance(value, str) or not DATE_RE.match(value):
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        return None


def rule_04_date_format(payload: Payload, listing: Listing | None) -> list[FieldIssue]:
    """Date fields are `YYYY-MM-DD`."""
    return _date_format(marked_leaves_under(payload), listing)


def _date_format(leaves: Iterable[Leaf], listing: Listing | None) -> list[FieldIssue]:
    return [
        make_issue(p, "not a date in the format YYYY-MM-DD", 4, listing)
        for p, v in _date_fields(leaves)
        if v is not None and _parse_date(v) is None
    ]


def rule_05_url_format(payload: Payload, listing: Listing | None) -> list[FieldIssue]:
    """URL fields are absolute http(s) URLs with a public host name."""
    return _url_format(marked_leaves_under(payload), listing)


def _url_format(leaves: Iterable[Leaf], listing: Listing | None) -> list[FieldIssue]:
    out = []
    for pointer, value in leaves:
        is_url_field = pointer.endswith(URL_SUFFIXES)
        if (
            is_url_field
            and value is not None
            and not (isinstance(value, str) and URL_RE.match(value))
        ):
            out.append(make_issue(pointer, "not a valid URL", 5, listing))
    return out


def rule_06_estate_type(payload: Payload, listing: Listing | None) -> list[FieldIssue]:
    """`estateSubTypes` is keyed by the estate type and holds one of its sub-types."""
    subtypes = value_at(payload, "/data/estateSubTypes")
    return _estate_subtypes(subtypes, value_at(payload, "/data/estateType"), listing)


def _estate_subtypes(subtypes: Any, estate_type: Any, listing: Listing | None) -> list[FieldIssue]:
    if subtypes is not None and not isinstance(subtypes, Mapping):
        shape = 'an object keyed by the estate type (e.g. {"house": "BUNGALOW"})'
        return [type_issue("/data/estateSubTypes", shape, subtypes, 6, listing)]
    if not subtypes:
        return []
    expected = SUBTYPE_KEY.get(str(estate_type))
    out = []
    for key, value in subtypes.items():
        pointer = f"/data/estateSubTypes/{key}"
        if key != expected:
            out.append(
                make_issue(
                    pointer, f"sub-type group {key!r} does not match the estate type", 6, listing
                )
            )
        elif value is not None and not isinstance(value, str):
            out.append(type_issue(pointer, "a string", value, 6, listing))
        elif _wrong_subtype(key, value):
            out.append(
                make_issue(pointer, f"{value!r} is not a sub-type of this estate type", 6, listing)
            )
    return out


def _wrong_subtype(key: str, value: str | None) -> bool:
    """Whether `value` is no sub-type of group `key`: outside a complete list, or (the list
    being partial) documented for another group."""
    known, complete = SUBTYPES.get(key, (frozenset(), False))
    if value in known:
        return False
    return complete or any(value in vals for k, (vals, _) in SUBTYPES.items() if k != key)


def rule_07_distribution_type(payload: Payload, listing: Listing | None) -> list[FieldIssue]:
    """`distributionSubType` is one of the sub-types of `distributionType`."""
    kind = value_at(payload, "/data/distributionType")
    return _distribution(kind, value_at(payload, "/data/distributionSubType"), listing)


def _distribution(kind: Any, sub: Any, listing: Listing | None) -> list[FieldIssue]:
    fields = (("/data/distributionType", kind), ("/data/distributionSubType", sub))
    wrong = not_strings(fields, 7, listing)
    if wrong:
        return wrong
    allowed = DISTRIBUTION_SUBTYPES.get(str(kind))
    if sub is None or allowed is None or sub in allowed:
        return []
    msg = f"{sub!r} is not a distribution sub-type of {kind!r}"
    return [make_issue("/data/distributionSubType", msg, 7, listing)]


def _pair(
    payload: Payload,
    listing: Listing | None,
    names: tuple[str, str],
    table: Mapping[str, frozenset[str]],
    rule: int,
) -> list[FieldIssue]:
    kind, sub = value_at(payload, f"/data/{names[0]}"), value_at(payload, f"/data/{names[1]}")
    return _pair_values(kind, sub, listing, names=names, table=table, rule=rule)


def _pair_values(
    kind: Any,
    sub: Any,
    listing: Listing | None,
    *,
    names: tuple[str, str],
    table: Mapping[str, frozenset[str]],
    rule: int,
) -> list[FieldIssue]:
    if kind is None and sub is None:
        return []
    wrong = not_strings(((f"/data/{names[0]}", kind), (f"/data/{names[1]}", sub)), rule, listing)
    if wrong:
        return wrong
    if kind in table and sub in table[kind]:
        return []
    msg = f"{names[1]} {sub!r} does not match {names[0]} {kind!r}"
    return [make_issue(f"/data/{names[1]}", msg, rule, listing)]


def rule_08_project_estate_type(payload: Payload, listing: Listing | None) -> list[FieldIssue]:
    """For projects, `projectEstateSubType` matches `projectEstateType`."""
    names = ("projectEstateType", "projectEstateSubType")
    return _pair(payload, listing, names, PROJECT_ESTATE, 8)


def rule_09_project_distribution_type(
    payload: Payload, listing: Listing | None
) -> list[FieldIssue]:
    """For projects, `projectDistributionSubType` matches `projectDistributionType`."""
    names = ("projectDistributionType", "projectDistributionSubType")
    return _pair(payload, listing, names, PROJECT_DISTRIBUTION, 9)


def rule_10_customer_fields(payload: Payload, listing: Listing | None) -> list[FieldIssue]:
    """The API customer fields of `metadata.source` are present (two more for projects)."""
    source = value_at(payload, "/metadata/source")
    project = value_at(payload, "/data/projectEstateType") is not None
    return _customer_fields(source if isinstance(source, Mapping) else _EMPTY, project, listing)


_CUSTOMER_FIELDS = (
    "externalId",
    "offererEstateId",
    "offererMarketingKey",
    "softwareName",
    "externalCustomerId",
)
_PROJECT_FIELDS = (*_CUSTOMER_FIELDS, "externalProjectId", "offererEstateGroupId")


def _customer_fields(
    source: Mapping[str, Any], project: bool, listing: Listing | None
) -> list[FieldIssue]:
    out = []
    for name in _PROJECT_FIELDS if project else _CUSTOMER_FIELDS:
        value = source.get(name)
        if not (isinstance(value, str) and value.strip()):
            out.append(make_issue(f"/metadata/source/{name}", f"{name} is mandatory", 10, listing))
    return out


def rule_11_estate_type_unchanged(
    sent: Payload, desired: Payload, listing: Listing | None = None
) -> list[FieldIssue]:
    """An update must not change `estateType` (compares the last sent payload).

    The issue names the canonical `category` (the estate type is mapped from it) and says what
    the user can do about it.
    """
    before, after = value_at(sent, "/data/estateType"), value_at(desired, "/data/estateType")
    if before is None or before == after:
        return []
    msg = (
        f"Immowelt cannot change a listing's estate type once created ({before} -> {after}): "
        "withdraw this listing and create it under a new external_ref, or keep the category"
    )
    return [make_issue("/data/estateType", msg, 11, listing)]


def _ranged(
    listing: Listing | None,
    pointers: Iterable[Leaf],
    *,
    limit: int,
    rule: int,
    what: str,
) -> list[FieldIssue]:
    return [
        make_issue(p, f"{what} must be a number >= 0 and < {limit}", rule, listing)
        for p, v in pointers
        if v is not None and not (is_number(v) and 0 <= v < limit)
    ]


def rule_12_square_meters(payload: Payload, listing: Listing | None) -> list[FieldIssue]:
    """Space fields are numbers in [0, 99 999 999)."""
    spaces = value_at(payload, "/data/spaces") or {}
    leaves = (
        (p, v)
        for p, v in leaves_under(spaces, "/data/spaces")
        if not p.endswith("/spaceMeasureUnit")
    )
    return _ranged(listing, leaves, limit=MAX_SPACE, rule=12, what="area")


def rule_13_counts(payload: Payload, listing: Listing | None) -> list[FieldIssue]:
    """Count and parking-lot fields are numbers in [0, 999 999)."""
    leaves = leaves_under(value_at(payload, "/data/structure") or {}, "/data/structure")
    counts = ((p, v) for p, v in leaves if not isinstance(v, bool))
    return _ranged(listing, counts, limit=MAX_COUNT, rule=13, what="count")


def rule_14_prices(payload: Payload, listing: Listing | None) -> list[FieldIssue]:
    """Price and amount fields are numbers in [0, 9 999 999 999 999)."""
    leaves = leaves_under(value_at(payload, "/data/prices") or {}, "/data/prices")
    amounts = ((p, v) for p, v in leaves if p.endswith("/amount"))
    return _ranged(listing, amounts, limit=MAX_PRICE, rule=14, what="amount")


def rule_15_new_build_dates(payload: Payload, listing: Listing | None) -> list[FieldIssue]:
    """For new builds, availableFrom and buildingStartDate are after 1900-01-01."""
    if not is_in(value_at(payload, "/data/distributionSubType"), NEW_BUILD):
        return []
    available = value_at(payload, "/data/management/availableFrom")
    return _new_build_dates(
        available, value_at(payload, "/data/conditions/buildingStartDate"), listing
    )


def _new_build_dates(available: Any, start: Any, listing: Listing | None) -> list[FieldIssue]:
    """Rule 15 for a new build, given its `availableFrom` and `buildingStartDate`."""
    out = []
    for pointer, value in (
        ("/data/management/availableFrom", available),
        ("/data/conditions/buildingStartDate", start),
    ):
        when = _parse_date(value)
        if when is not None and when <= EARLIEST_NEW_BUILD:
            out.append(make_issue(pointer, "must be after 1900-01-01 for a new build", 15, listing))
    return out


def rule_16_percentages(payload: Payload, listing: Listing | None) -> list[FieldIssue]:
    """Percentage values lie between 0 and 100."""
    return _percentages(marked_leaves_under(payload.get("data", {}), "/data"), listing)


def _percentages(leaves: Iterable[Leaf], listing: Listing | None) -> list[FieldIssue]:
    out = []
    for pointer, value in leaves:
        is_percent = pointer.lower().endswith(PERCENT_SUFFIXES)
        if is_percent and value is not None and not (is_number(value) and 0 <= value <= 100):
            out.append(make_issue(pointer, "percentage must be between 0 and 100", 16, listing))
    return out


_RENTS = ("baseRent", "totalRent", "lease")


def _has_rent(amounts: Iterable[Any]) -> bool:
    """Whether an amount of `baseRent`, `totalRent` or `lease` is a number above 0."""
    return any(is_number(a) and a > 0 for a in amounts)


def _rent_rule(
    payload: Payload, listing: Listing | None, subtypes: frozenset[str], rule: int
) -> list[FieldIssue]:
    if value_at(payload, "/data/distributionType") != "RENT":
        return []
    sub = value_at(payload, "/data/distributionSubType")
    rents = [value_at(payload, f"/data/prices/{n}/amount") for n in _RENTS]
    return _rent_values(sub, rents, listing, subtypes, rule)


def _rent_values(
    sub: Any, rents: Iterable[Any], listing: Listing | None, subtypes: frozenset[str], rule: int
) -> list[FieldIssue]:
    """Rules 17 and 18 for a RENT, given its sub-type and rent amounts."""
    if not is_in(sub, subtypes) or _has_rent(rents):
        return []
    msg = "a rent needs baseRent, totalRent or lease amount greater than 0"
    return [make_issue("/data/prices/baseRent/amount", msg, rule, listing)]


def rule_17_classic_rent(payload: Payload, listing: Listing | None) -> list[FieldIssue]:
    """A CLASSIC rent states a rent amount greater than 0."""
    return _rent_rule(payload, listing, _CLASSIC, 17)


def rule_18_new_build_empty_rent(payload: Payload, listing: Listing | None) -> list[FieldIssue]:
    """A NEW_BUILD_UNIT or EMPTY rent states a rent amount greater than 0."""
    return _rent_rule(payload, listing, _NEW_OR_EMPTY, 18)


_CLASSIC = frozenset({"CLASSIC"})
_NEW_OR_EMPTY = frozenset({"NEW_BUILD_UNIT", "EMPTY"})


def rule_19_compulsory_auction(payload: Payload, listing: Listing | None) -> list[FieldIssue]:
    """A compulsory auction states minimumBid and overbidSessionStartingPrice above 0."""
    if value_at(payload, "/data/distributionType") != "COMPULSORY_AUCTION":
        return []
    bid = value_at(payload, "/data/prices/minimumBid/amount")
    start = value_at(payload, "/data/prices/overbidSessionStartingPrice/amount")
    return _auction(bid, start, listing)


def _auction(bid: Any, start: Any, listing: Listing | None) -> list[FieldIssue]:
    """Rule 19 for a compulsory auction, given its two amounts."""
    out = []
    for name, value in (("minimumBid", bid), ("overbidSessionStartingPrice", start)):
        if not (is_number(value) and value > 0):
            out.append(
                make_issue(
                    f"/data/prices/{name}/amount", f"{name} must be greater than 0", 19, listing
                )
            )
    return out


def rule_20_brokerage_fee(payload: Payload, listing: Listing | None) -> list[FieldIssue]:
    """Buy/rent: a fee that is not declared absent states an amount, percentage or note."""
    fee = value_at(payload, "/data/prices/brokerageFee")
    return _fee(fee, value_at(payload, "/data/distributionType"), listing)


def _fee(fee: Any, kind: Any, listing: Listing | None) -> list[FieldIssue]:
    applies = kind in ("BUY", "RENT")
    if not applies or not isinstance(fee, Mapping) or fee.get("hasFee") is False:
        return []
    amount, percentage = fee.get("amount"), fee.get("percentage")
    if (is_number(amount) and amount > 0) or (is_number(percentage) and percentage > 0):
        return []
    note = fee.get("priceNote")
    if isinstance(note, str) and note.strip():
        return []
    msg = "a brokerage fee needs an amount or price note greater than 0 (or hasFee false)"
    return [make_issue("/data/prices/brokerageFee/amount", msg, 20, listing)]


def rule_21_text_content(payload: Payload, listing: Listing | None) -> list[FieldIssue]:
    """Texts contain no HTML, URLs, e-mail addresses or phone numbers."""
    return _text_content(texts_of(payload), listing)


def _text_content(texts: Iterable[Leaf], listing: Listing | None) -> list[FieldIssue]:
    out = []
    for pointer, value in texts:
        found = _text_findings(value) if isinstance(value, str) else []
        if found:
            out.append(
                make_issue(pointer, f"text must not contain {', '.join(found)}", 21, listing)
            )
    return out


def _text_findings(text: str) -> list[str]:
    """What rule 21 finds in one text, in the rule's order.

    Each pattern runs only when the text holds what every match of it needs ("<" or "&";
    "://", or "w." in either case as in "www."; "@"; "+" or "0" before a digit): most texts
    need no search.
    """
    found = []
    if ("<" in text or "&" in text) and HTML_RE.search(text):
        found.append("HTML")
    if ("://" in text or "w." in text or "W." in text) and TEXT_URL_RE.search(text):
        found.append("a URL")
    if "@" in text and TEXT_EMAIL_RE.search(text):
        found.append("an e-mail address")
    if PHONE_START_RE.search(text) and TEXT_PHONE_RE.search(text):
        found.append("a phone number")
    return found


RULES: tuple[Rule, ...] = (
    rule_01_text_length, rule_02_email, rule_03_phone, rule_04_date_format, rule_05_url_format,
    rule_06_estate_type, rule_07_distribution_type, rule_08_project_estate_type,
    rule_09_project_distribution_type, rule_10_customer_fields, rule_12_square_meters,
    rule_13_counts, rule_14_prices, rule_15_new_build_dates, rule_16_percentages,
    rule_17_classic_rent, rule_18_new_build_empty_rent, rule_19_compulsory_auction,
    rule_20_brokerage_fee, rule_21_text_content,
)  # fmt: skip
"""Every stateless rule, in the document's order (rule 11 needs the last sent payload)."""


_ON_LEAVES: Mapping[Rule, Callable[[list[Leaf], Listing | None], list[FieldIssue]]] = {
    rule_01_text_length: _text_length,
    rule_04_date_format: _date_format,
    rule_05_url_format: _url_format,
    rule_16_percentages: _percentages,
    rule_21_text_content: _text_content,
}
"""The rules that look at leaves, as functions of the leaves (`check_all` walks once)."""


def check_all(payload: Payload, listing: Listing | None = None) -> list[FieldIssue]:
    """Run every stateless rule over a mapped payload."""
    # The marked leaves per top-level member: rule 16 reads those of `data` only.
    tops = {key: marked_leaves_under(value, f"/{key}") for key, value in payload.items()}
    marked = [leaf for leaves in tops.values() for leaf in leaves]
    return _check(payload, listing, marked, tops.get("data", []))


def check_mapped(payload: Payload, listing: Listing) -> list[FieldIssue]:
    """`check_all(payload, listing)` for the payload that `mapping.project` (or
    `to_immowelt_payload`) built from `listing`, unchanged since.

    Such a payload holds leaves that rules 4, 5 and 16 concern at two pointers only (the
    brokerage fee's percentage and `availableFrom`), besides the texts, whose keys come from
    the listing; so only those are looked at instead of walking the whole payload. A listing
    with Immowelt extensions may add any member: its payload is walked as `check_all` does.
    """
    if listing.extensions.get(PORTAL):
        return check_all(payload, listing)
    return _check_members(payload, listing)


def _mapped_marked(payload: Payload) -> list[Leaf]:
    """The marked leaves of a payload `to_immowelt_payload` built without extensions: all of
    them are under `data` (see `check_mapped`)."""
    return _mapped_texts_and_marked(payload)[1]


def _mapped_texts_and_marked(payload: Payload) -> tuple[list[Leaf], list[Leaf]]:
    """`texts_of(payload)` and `_mapped_marked(payload)`, the texts walked once.

    The texts of such a payload are `{name: {language: text}}` (the listing's dicts of strings),
    so each text is a leaf two levels down, marked when its language key is; texts of another
    shape are walked as `check_all` walks them.
    """
    data = payload.get("data")
    texts: list[Leaf] = []
    marked: list[Leaf] = []
    if type(data) is not dict:
        return texts, marked
    fee = (data.get("prices") or _EMPTY).get("brokerageFee") or _EMPTY
    percentage = fee.get("percentage")
    if percentage is not None:
        marked.append((_PERCENTAGE, percentage))
    available = (data.get("management") or _EMPTY).get("availableFrom")
    if available is not None:
        marked.append((_AVAILABLE, available))
    node = data.get("texts")
    if node is None:
        return texts, marked
    walked = _texts_by_language(node) if type(node) is dict else None
    if walked is None:
        # As the walk of `data` meets it (a scalar here is a leaf under the unmarked "texts").
        return texts_of(payload), marked + marked_leaves_under({"texts": node}, "/data")
    texts, marked_texts = walked
    return texts, marked + marked_texts


def _texts_by_language(node: dict[Any, Any]) -> tuple[list[Leaf], list[Leaf]] | None:
    """The leaves of `{name: {language: text}}` and the marked ones among them, in document
    order; None for texts of another shape."""
    texts: list[Leaf] = []
    marked: list[Leaf] = []
    for name, by_language in node.items():
        if type(by_language) is not dict:
            return None
        for language, text in by_language.items():
            if type(text) is not str or type(language) is not str:
                return None
            leaf = (f"/data/texts/{name}/{language}", text)
            texts.append(leaf)
            if is_marked(language):
                marked.append(leaf)
    return texts, marked


_EMPTY: dict[str, Any] = {}
_PERCENTAGE = "/data/prices/brokerageFee/percentage"
_AVAILABLE = "/data/management/availableFrom"


def _check_members(payload: Payload, listing: Listing) -> list[FieldIssue]:
    """`_check(payload, listing, marked, marked)` for a payload `to_immowelt_payload` built
    without extensions (`check_mapped`), in one pass over its members.

    Every rule runs in `RULES`' order on the values its pointer-reading function would read,
    taken from the payload's objects by key (every object of such a payload is a `dict`, and
    `value_at` reads a missing member as None, as `dict.get` does), through the same function
    of those values, which words the issues. The range rules (12-14) read the two levels of
    `spaces`, `structure` and `prices` (such a payload nests no deeper there) and build a
    pointer only for a value out of range.
    """
    data = payload.get("data") or _EMPTY
    contact = payload.get("contact") or _EMPTY
    prices = data.get("prices") or _EMPTY
    fee = prices.get("brokerageFee")
    available = (data.get("management") or _EMPTY).get("availableFrom")
    kind = data.get("distributionType")
    sub = data.get("distributionSubType")
    texts, marked = _mapped_texts_and_marked(payload)
    # Of the marked leaves, rules 4 and 5 can refuse neither the brokerage fee's percentage
    # (its pointer ends with no date or URL suffix) nor an `availableFrom` that is a valid
    # date (no URL suffix either): `dated` is the rest, usually nothing.
    dated = marked
    if dated and dated[0][0] == _PERCENTAGE:
        dated = dated[1:]
    if dated and dated[0][0] == _AVAILABLE and _parse_date(dated[0][1]) is not None:
        dated = dated[1:]

    out = _text_length(texts, listing)  # 1
    out += _email(contact.get("emailAddress"), listing)  # 2
    out += _phones(contact.get("phoneNumber"), contact.get("mobilePhoneNumber"), listing)  # 3
    if dated:
        out += _date_format(dated, listing)  # 4
        out += _url_format(dated, listing)  # 5
    out += _estate_subtypes(data.get("estateSubTypes"), data.get("estateType"), listing)  # 6
    out += _distribution(kind, sub, listing)  # 7
    out += _projects_and_customer(payload, data, listing)  # 8, 9, 10
    out += _spaces_out_of_range(data.get("spaces"), listing)  # 12
    out += _counts_out_of_range(data.get("structure"), listing)  # 13
    out += _amounts_out_of_range(prices, listing)  # 14
    if is_in(sub, NEW_BUILD):  # 15
        start = (data.get("conditions") or _EMPTY).get("buildingStartDate")
        out += _new_build_dates(available, start, listing)
    if dated:  # 16 (`availableFrom` ends with no percent suffix)
        out += _percentages(marked, listing)
    elif marked and marked[0][0] == _PERCENTAGE:  # 16 on the percentage alone
        value = marked[0][1]
        number = type(value)
        if not ((number is int or number is float) and 0 <= value <= 100):
            out += _percentages(marked[:1], listing)
    if kind == "RENT":  # 17, 18
        rents = [(prices.get(name) or _EMPTY).get("amount") for name in _RENTS]
        out += _rent_values(sub, rents, listing, _CLASSIC, 17)
        out += _rent_values(sub, rents, listing, _NEW_OR_EMPTY, 18)
    elif kind == "COMPULSORY_AUCTION":  # 19
        bid = (prices.get("minimumBid") or _EMPTY).get("amount")
        start = (prices.get("overbidSessionStartingPrice") or _EMPTY).get("amount")
        out += _auction(bid, start, listing)
    out += _fee(fee, kind, listing)  # 20
    out += _text_content(texts, listing)  # 21
    return out


def _projects_and_customer(
    payload: Payload, data: Mapping[str, Any], listing: Listing
) -> list[FieldIssue]:
    """Rules 8, 9 and 10 on a mapped payload's members (see `_check_members`)."""
    project_type = data.get("projectEstateType")
    project_sub = data.get("projectEstateSubType")
    out: list[FieldIssue] = []
    if project_type is not None or project_sub is not None:  # `_pair_values`' first test
        out += _pair_values(
            project_type,
            project_sub,
            listing,
            names=("projectEstateType", "projectEstateSubType"),
            table=PROJECT_ESTATE,
            rule=8,
        )
    distribution = data.get("projectDistributionType")
    distribution_sub = data.get("projectDistributionSubType")
    if distribution is not None or distribution_sub is not None:
        out += _pair_values(
            distribution,
            distribution_sub,
            listing,
            names=("projectDistributionType", "projectDistributionSubType"),
            table=PROJECT_DISTRIBUTION,
            rule=9,
        )
    source = (payload.get("metadata") or _EMPTY).get("source") or _EMPTY
    out += _customer_fields(source, project_type is not None, listing)
    return out


def _spaces_out_of_range(spaces: Any, listing: Listing) -> list[FieldIssue]:
    """Rule 12 on a mapped payload's `data.spaces` (two levels, see `_check_members`)."""
    if not spaces:
        return []
    bad: list[Leaf] = []
    for key, value in spaces.items():
        if type(value) is dict:
            for name, leaf in value.items():
                if (
                    leaf is not None
                    and name != "spaceMeasureUnit"
                    and not _in_range(leaf, MAX_SPACE)
                ):
                    bad.append((f"/data/spaces/{key}/{name}", leaf))
        elif value is not None and key != "spaceMeasureUnit" and not _in_range(value, MAX_SPACE):
            bad.append((f"/data/spaces/{key}", value))
    return _ranged(listing, bad, limit=MAX_SPACE, rule=12, what="area") if bad else []


def _counts_out_of_range(structure: Any, listing: Listing) -> list[FieldIssue]:
    """Rule 13 on a mapped payload's `data.structure` (two levels, see `_check_members`)."""
    if not structure:
        return []
    bad: list[Leaf] = []
    for key, value in structure.items():
        if type(value) is dict:
            for name, leaf in value.items():
                if (
                    leaf is not None
                    and not _in_range(leaf, MAX_COUNT)
                    and not isinstance(leaf, bool)
                ):
                    bad.append((f"/data/structure/{key}/{name}", leaf))
        elif value is not None and not _in_range(value, MAX_COUNT) and not isinstance(value, bool):
            bad.append((f"/data/structure/{key}", value))
    return _ranged(listing, bad, limit=MAX_COUNT, rule=13, what="count") if bad else []


def _amounts_out_of_range(prices: Mapping[str, Any], listing: Listing) -> list[FieldIssue]:
    """Rule 14 on a mapped payload's `data.prices` (two levels, see `_check_members`)."""
    bad: list[Leaf] = []
    for key, value in prices.items():
        if type(value) is dict:
            amount = value.get("amount")
            if amount is not None and not _in_range(amount, MAX_PRICE):
                bad.append((f"/data/prices/{key}/amount", amount))
        elif key == "amount" and value is not None and not _in_range(value, MAX_PRICE):
            bad.append(("/data/prices/amount", value))
    return _ranged(listing, bad, limit=MAX_PRICE, rule=14, what="amount") if bad else []


def _in_range(value: Any, limit: int) -> bool:
    """What `_ranged` accepts: a number in [0, `limit`)."""
    kind = type(value)
    if kind is int or kind is float:  # `is_number`'s common case, inline
        return bool(0 <= value < limit)
    return is_number(value) and 0 <= value < limit


def _check(
    payload: Payload, listing: Listing | None, marked: list[Leaf], marked_data: list[Leaf]
) -> list[FieldIssue]:
    """Every stateless rule, given the payload's marked leaves (all, and those of `data`)."""
    texts = texts_of(payload)
    walked: dict[Rule, list[Leaf]] = {
        rule_01_text_length: texts,
        rule_04_date_format: marked,
        rule_05_url_format: marked,
        rule_16_percentages: marked_data,
        rule_21_text_content: texts,
    }
    out: list[FieldIssue] = []
    for rule in RULES:
        leaves = walked.get(rule)
        out += rule(payload, listing) if leaves is None else _ON_LEAVES[rule](leaves, listing)
    return out


def currency_issues(listing: Listing) -> list[FieldIssue]:
    """Amounts in another currency than EUR (the payload's amounts carry no currency)."""
    money: list[tuple[str, Money | None]] = [
        ("asking_price", listing.asking_price),
        ("monthly_fee", listing.monthly_fee),
    ]
    if rent := listing.rent:
        money += (
            ("rent.base", rent.base),
            ("rent.total", rent.total),
            ("rent.service_charges", rent.service_charges),
            ("rent.heating", rent.heating),
            ("rent.deposit", rent.deposit),
        )
    if auction := listing.auction:
        money += (
            ("auction.minimum_bid", auction.minimum_bid),
            ("auction.starting_price", auction.starting_price),
        )
    if fee := listing.brokerage_fee:
        money.append(("brokerage_fee.amount", fee.amount))
    return [
        FieldIssue(
            path=f"{path}.currency",
            message=f"Immowelt takes amounts in EUR, not {m.currency}",
            portal=PORTAL,
            rule="currency",
        )
        for path, m in money
        if m is not None and m.currency != "EUR"
    ]
