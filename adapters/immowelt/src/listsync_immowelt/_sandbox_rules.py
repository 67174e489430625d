"""Server-side business rules of the Immowelt sandbox.

Written separately from `rules.py` on purpose, from the same source (the "Business Rules" of
Immowelt's listing import API document), so that the test
comparing offline preflight with the sandbox compares two implementations, not one. Each check
appends `{"name": <JSON pointer>, "reason": ...}` entries, the portal's `errors[]` format.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, TypeGuard

__all__ = ["validate_listing"]

_EMAIL_LOCAL = re.compile(r"^[\w!#$%&'*+/=?^`{|}~-]+$")
_EMAIL_LABEL = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$")
_PHONE = re.compile(r"^\+?[0-9]{1,3}[ /-]?[0-9]{1,4}[ /-]?[0-9]{4,10}$")
_ISO_DAY = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_TAG = re.compile(r"</?[a-zA-Z][^<>]*>|&(?:nbsp|amp|lt|gt|quot);")
_LINK = re.compile(r"(?:https?://|\bwww\.)[^\s]+", re.IGNORECASE)
_MAIL_IN_TEXT = re.compile(r"\S+@\S+\.[A-Za-z]{2,}")
_PHONE_IN_TEXT = re.compile(r"(?<![0-9A-Za-z.,])(?:\+|0)[0-9](?:[ /-]?[0-9]){6,}")

_ESTATE_KEYS = {
    "HOUSE": "house",
    "APARTMENT": "apartment",
    "PLOT": "plot",
    "OFFICE": "office",
    "TRADING": "trading",
    "GASTRONOMY_HOTEL": "gastronomyHotel",
    "STORAGE_PRODUCTION": "storageProduction",
    "AGRICULTURE_FORESTRY": "agricultureForestry",
    "PARKING": "parking",
    "SENIOR": "senior",
    "MISCELLANEOUS": "miscellaneous",
}
_TRADING = {"STORE", "SHOWROOM_SPACE", "SHOPPING_CENTRE", "KIOSK", "SALES_AREA"}
_HOUSE_KNOWN = {
    "APARTMENT_HOUSE",
    "BUNGALOW",
    "CASTLE",
    "MANOR_HOUSE",
    "CHALET",
    "FARMHOUSE",
    "FINCA",
    "GARDEN_HOUSE",
    "GITE",
    "LIVING_AND_COMMERCIAL",
    "MOUNTAIN_HUT",
    "MULTI_FAMILY_HOUSE",
    "RESIDENTIAL_COMPLEX",
    "RUSTICO",
}
_BUY_SUBS = {
    "RESALE",
    "NEW_BUILD_UNIT",
    "NEW_BUILD_PROJECT",
    "NEW_BUILD_INVESTMENT_PRODUCT",
    "BUSINESS_SALE_GOODWILL",
    "LIFE_ANNUITY",
    "NEW_HOME",
}
_DISTRIBUTION = {
    "BUY": _BUY_SUBS,
    "BUY_AUCTION": _BUY_SUBS,
    "RENT": {
        "CLASSIC",
        "NEW_BUILD_UNIT",
        "EMPTY",
        "NEW_BUILD_PROJECT",
        "NEW_BUILD_INVESTMENT_PRODUCT",
        "BUSINESS",
        "BUSINESS_LEASEBACK",
        "TEMPORARY",
        "VACATION",
    },
    "COMPULSORY_AUCTION": {"COMPULSORY_AUCTION"},
}
_PROJECT_ESTATE = {
    "NEW_BUILD_PROJECT": {"APARTMENT", "HOUSE", "MIXED"},
    "NEW_HOME_PROJECT": {"HOUSE"},
}
_PROJECT_DISTRIBUTION = {
    "BUY": {"NEW_BUILD_PROJECT", "NEW_HOME"},
    "RENT": {"NEW_BUILD_PROJECT"},
    "BUY_RENT": {"NEW_BUILD_PROJECT", "NEW_HOME"},
}
_NEW_BUILDS = {"NEW_BUILD_UNIT", "NEW_BUILD_PROJECT", "NEW_BUILD_INVESTMENT_PRODUCT", "NEW_HOME"}
_STRING_MEMBERS = (
    "distributionType",
    "distributionSubType",
    "projectEstateType",
    "projectEstateSubType",
    "projectDistributionType",
    "projectDistributionSubType",
)
_OBJECT_MEMBERS = (
    ("contact",),
    ("metadata", "source"),
    ("data", "prices"),
    ("data", "estateSubTypes"),
)
_SOURCE_FIELDS = (
    "externalId",
    "offererEstateId",
    "offererMarketingKey",
    "softwareName",
    "externalCustomerId",
)


def _flatten(node: Any, at: str = "") -> list[tuple[str, Any]]:
    if isinstance(node, dict):
        return [pair for k, v in node.items() for pair in _flatten(v, f"{at}/{k}")]
    if isinstance(node, list):
        return [pair for i, v in enumerate(node) for pair in _flatten(v, f"{at}/{i}")]
    return [(at, node)]


def _dig(node: Any, *keys: str) -> Any:
    for key in keys:
        node = node.get(key) if isinstance(node, dict) else None
    return node


def _object(node: Any) -> dict[str, Any]:
    """`node` when it is an object, else empty: `types` reports the wrong type once."""
    return node if isinstance(node, dict) else {}


def _strings(*values: Any) -> bool:
    """Whether every value is a string or absent (the schema types hold)."""
    return all(value is None or isinstance(value, str) for value in values)


def _numeric(value: Any) -> TypeGuard[int | float]:
    return type(value) in (int, float)


def _valid_email(value: Any) -> bool:
    if not isinstance(value, str) or len(value) > 320 or value.count("@") != 1:
        return False
    local, domain = value.split("@")
    labels = domain.split(".")
    if not local or any(not part for part in local.split(".")):
        return False
    if not all(_EMAIL_LOCAL.match(part) for part in local.split(".")):
        return False
    return len(labels) >= 2 and all(_EMAIL_LABEL.match(x) for x in labels) and labels[-1].isalpha()


def _day(value: Any) -> dt.date | None:
    if not (isinstance(value, str) and _ISO_DAY.match(value)):
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        return None


def _valid_url(value: Any) -> bool:
    if not isinstance(value, str) or not value.lower().startswith(("http://", "https://")):
        return False
    host = value.split("://", 1)[1].split("/", 1)[0].split(":", 1)[0]
    labels = host.split(".")
    return len(labels) >= 2 and all(_EMAIL_LABEL.match(x) for x in labels) and labels[-1].isalpha()


class _Checker:
    def __init__(self, body: dict[str, Any]) -> None:
        self.body = body
        self.data: dict[str, Any] = body.get("data") if isinstance(body.get("data"), dict) else {}  # type: ignore[assignment]  # checked
        self.errors: list[dict[str, str]] = []

    def fail(self, name: str, reason: str) -> None:
        self.errors.append({"name": name, "reason": reason})

    def types(self) -> None:  # the schema's types where the rules read a member
        for keys in _OBJECT_MEMBERS:
            value = _dig(self.body, *keys)
            if value is not None and not isinstance(value, dict):
                self.fail("/" + "/".join(keys), "must be object")
        for key in _STRING_MEMBERS:
            if not _strings(self.data.get(key)):
                self.fail(f"/data/{key}", "must be string")

    def texts(self) -> None:  # rules 1 and 21
        for at, value in _flatten(self.data.get("texts", {}), "/data/texts"):
            if not isinstance(value, str):
                continue
            if len(value) > 3999:
                self.fail(at, "must NOT have more than 3999 characters")
            if any(p.search(value) for p in (_TAG, _LINK, _MAIL_IN_TEXT, _PHONE_IN_TEXT)):
                self.fail(at, "must NOT contain HTML, URLs, e-mail addresses or phone numbers")

    def contact(self) -> None:  # rules 2 and 3
        contact = _object(self.body.get("contact"))
        if "emailAddress" in contact and not _valid_email(contact["emailAddress"]):
            self.fail("/contact/emailAddress", 'must match format "email"')
        for key in ("phoneNumber", "mobilePhoneNumber"):
            value = contact.get(key)
            if value is not None and not (isinstance(value, str) and _PHONE.match(value)):
                self.fail(f"/contact/{key}", "must match the phone number pattern")

    def formats(self) -> None:  # rules 4 and 5
        for at, value in _flatten(self.body):
            leaf = at.split("/")[-1]
            if value is None:
                continue
            if (leaf.endswith("Date") or leaf in {"availableFrom", "validUntil"}) and _day(
                value
            ) is None:
                self.fail(at, 'must match format "date"')
            if (leaf.endswith(("URL", "Url")) or leaf == "userHomepage") and not _valid_url(value):
                self.fail(at, 'must match format "uri"')

    def classification(self) -> None:  # rules 6 and 7
        estate = self.data.get("estateType")
        for key, value in _object(self.data.get("estateSubTypes")).items():
            at = f"/data/estateSubTypes/{key}"
            if _ESTATE_KEYS.get(str(estate)) != key:
                self.fail(at, f"does not match estateType {estate}")
            elif not _strings(value):
                self.fail(at, "must be string")
            elif key == "trading" and value not in _TRADING:
                self.fail(
                    at, "must be equal to one of the allowed values: " + ", ".join(sorted(_TRADING))
                )
            elif key != "trading" and (
                value in _TRADING or (key != "house" and value in _HOUSE_KNOWN)
            ):
                self.fail(at, f"{value} is not a sub-type of {estate}")
        kind, sub = self.data.get("distributionType"), self.data.get("distributionSubType")
        if (
            isinstance(kind, str)
            and isinstance(sub, str)
            and kind in _DISTRIBUTION
            and sub not in _DISTRIBUTION[kind]
        ):
            self.fail("/data/distributionSubType", f"does not match distributionType {kind}")

    def projects(self) -> None:  # rules 8 and 9
        for kind_key, sub_key, table in (
            ("projectEstateType", "projectEstateSubType", _PROJECT_ESTATE),
            ("projectDistributionType", "projectDistributionSubType", _PROJECT_DISTRIBUTION),
        ):
            kind, sub = self.data.get(kind_key), self.data.get(sub_key)
            if not _strings(kind, sub):
                continue
            if (kind is not None or sub is not None) and sub not in table.get(str(kind), set()):
                self.fail(f"/data/{sub_key}", f"does not match {kind_key} {kind}")

    def source(self) -> None:  # rule 10
        source = _object(_dig(self.body, "metadata", "source"))
        wanted = list(_SOURCE_FIELDS)
        if self.data.get("projectEstateType") is not None:
            wanted += ["externalProjectId", "offererEstateGroupId"]
        for key in wanted:
            value = source.get(key)
            if not isinstance(value, str) or value.strip() == "":
                self.fail(f"/metadata/source/{key}", "is required for API customers")

    def ranges(self) -> None:  # rules 12, 13, 14, 16
        bands = (("spaces", 99_999_999), ("structure", 999_999))
        for section, upper in bands:
            for at, value in _flatten(self.data.get(section, {}), f"/data/{section}"):
                if at.endswith("spaceMeasureUnit") or type(value) is bool or value is None:
                    continue
                if not (_numeric(value) and 0 <= value < upper):
                    self.fail(at, f"must be >= 0 and < {upper}")
        for at, value in _flatten(self.data.get("prices", {}), "/data/prices"):
            bad = not (_numeric(value) and 0 <= value < 9_999_999_999_999)
            if at.endswith("/amount") and value is not None and bad:
                self.fail(at, "must be >= 0 and < 9999999999999")
        for at, value in _flatten(self.data, "/data"):
            bad = not (_numeric(value) and 0 <= value <= 100)
            if at.lower().endswith(("percent", "percentage")) and value is not None and bad:
                self.fail(at, "must be >= 0 and <= 100")

    def new_build_dates(self) -> None:  # rule 15
        sub = self.data.get("distributionSubType")
        if not (isinstance(sub, str) and sub in _NEW_BUILDS):
            return
        for at, keys in (
            ("/data/management/availableFrom", ("management", "availableFrom")),
            ("/data/conditions/buildingStartDate", ("conditions", "buildingStartDate")),
        ):
            day = _day(_dig(self.data, *keys))
            if day is not None and day <= dt.date(1900, 1, 1):
                self.fail(at, "must be after 1900-01-01 for new builds")

    def money_rules(self) -> None:  # rules 17-20
        prices = _object(self.data.get("prices"))
        kind, sub = self.data.get("distributionType"), self.data.get("distributionSubType")

        def positive(name: str) -> bool:
            value = _dig(prices, name, "amount")
            return _numeric(value) and value > 0

        rents = ("baseRent", "totalRent", "lease")
        if (
            kind == "RENT"
            and sub in ("CLASSIC", "NEW_BUILD_UNIT", "EMPTY")
            and not any(positive(n) for n in rents)
        ):
            self.fail("/data/prices/baseRent/amount", "one of baseRent, totalRent or lease > 0")
        if kind == "COMPULSORY_AUCTION":
            for name in ("minimumBid", "overbidSessionStartingPrice"):
                if not positive(name):
                    self.fail(f"/data/prices/{name}/amount", "must be > 0")
        fee = prices.get("brokerageFee")
        if kind in ("BUY", "RENT") and isinstance(fee, dict) and fee.get("hasFee") is not False:
            note = fee.get("priceNote")
            numbers = [fee.get("amount"), fee.get("percentage")]
            if not any(_numeric(n) and n > 0 for n in numbers) and not (
                isinstance(note, str) and note.strip()
            ):
                self.fail("/data/prices/brokerageFee/amount", "fee amount or price note required")


def validate_listing(body: dict[str, Any]) -> list[dict[str, str]]:
    """Every business-rule violation in a create/update body, as `errors[]` entries."""
    checker = _Checker(body)
    for check in (
        checker.types,
        checker.texts,
        checker.contact,
        checker.formats,
        checker.classification,
        checker.projects,
        checker.source,
        checker.ranges,
        checker.new_build_dates,
        checker.money_rules,
    ):
        check()
    return checker.errors
