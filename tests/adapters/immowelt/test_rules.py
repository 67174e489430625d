"""The 21 business rules: offline `prepare` and the sandbox agree on every case."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from listsync.adapter import Operation, OperationContext, OpKind, diff_projection
from listsync.errors import InvalidListingError, PortalValidationError, Severity
from listsync.model import Listing
from listsync.testing import Driver
from listsync_immowelt import ImmoweltAdapter
from listsync_immowelt.mapping import to_immowelt_payload
from listsync_immowelt.rules import RULES, check_all, rule_21_text_content

from .conftest import make_listing, prepared, sync, unchecked_projection

_EXT = "extensions.immowelt"
_PROJECT_SOURCE = {"externalProjectId": "P-1", "offererEstateGroupId": "G-1"}

# rule id -> (listing overrides, [(canonical path, JSON pointer)]); each breaks only its rule.
CASES: dict[str, tuple[dict[str, Any], list[tuple[str, str]]]] = {
    "rule-01": (
        {"description": {"de": "Sehr schoen. " * 310}},
        [("description.de", "/data/texts/description/de")],
    ),
    "rule-02": (
        {"agent": {"email": "erika..mustermann@makler-berlin.de"}},
        [("agent.email", "/contact/emailAddress")],
    ),
    "rule-03": (
        {"agent": {"phone": "(030) 7654321"}},
        [("agent.phone", "/contact/phoneNumber")],
    ),
    "rule-04": (
        {"extensions": {"immowelt": {"data": {"conditions": {"buildingStartDate": "01.05.2024"}}}}},
        [(f"{_EXT}.data.conditions.buildingStartDate", "/data/conditions/buildingStartDate")],
    ),
    "rule-05": (
        {"extensions": {"immowelt": {"contact": {"userHomepage": "makler-berlin"}}}},
        [(f"{_EXT}.contact.userHomepage", "/contact/userHomepage")],
    ),
    "rule-06": (
        {"subcategory": "STORE"},
        [("subcategory", "/data/estateSubTypes/apartment")],
    ),
    "rule-07": (
        {"extensions": {"immowelt": {"data": {"distributionSubType": "CLASSIC"}}}},
        [(f"{_EXT}.data.distributionSubType", "/data/distributionSubType")],
    ),
    "rule-08": (
        {
            "extensions": {
                "immowelt": {
                    "data": {
                        "projectEstateType": "NEW_BUILD_PROJECT",
                        "projectEstateSubType": "OFFICE",
                    },
                    "metadata": {"source": _PROJECT_SOURCE},
                }
            }
        },
        [(f"{_EXT}.data.projectEstateSubType", "/data/projectEstateSubType")],
    ),
    "rule-09": (
        {
            "extensions": {
                "immowelt": {
                    "data": {
                        "projectDistributionType": "RENT",
                        "projectDistributionSubType": "NEW_HOME",
                    }
                }
            }
        },
        [(f"{_EXT}.data.projectDistributionSubType", "/data/projectDistributionSubType")],
    ),
    "rule-10": (
        {
            "extensions": {
                "immowelt": {
                    "data": {
                        "projectEstateType": "NEW_BUILD_PROJECT",
                        "projectEstateSubType": "APARTMENT",
                    }
                }
            }
        },
        [
            (f"{_EXT}.metadata.source.externalProjectId", "/metadata/source/externalProjectId"),
            (
                f"{_EXT}.metadata.source.offererEstateGroupId",
                "/metadata/source/offererEstateGroupId",
            ),
        ],
    ),
    "rule-12": (
        {"living_area": "99999999"},
        [("living_area", "/data/spaces/residential/livingSpace")],
    ),
    "rule-13": (
        {"extensions": {"immowelt": {"data": {"structure": {"parkingLots": {"garage": 1000000}}}}}},
        [(f"{_EXT}.data.structure.parkingLots.garage", "/data/structure/parkingLots/garage")],
    ),
    "rule-14": (
        {"asking_price": {"amount": "9999999999999"}},
        [("asking_price.amount", "/data/prices/buy/amount")],
    ),
    "rule-15": (
        {"is_new_construction": True, "available_from": "1899-12-31"},
        [("available_from", "/data/management/availableFrom")],
    ),
    "rule-16": (
        {"extensions": {"immowelt": {"data": {"prices": {"buy": {"vatPercent": 119}}}}}},
        [(f"{_EXT}.data.prices.buy.vatPercent", "/data/prices/buy/vatPercent")],
    ),
    "rule-17": (
        {"transaction": "rent", "asking_price": None},
        [("rent.base.amount", "/data/prices/baseRent/amount")],
    ),
    "rule-18": (
        {"transaction": "rent", "asking_price": None, "is_new_construction": True},
        [("rent.base.amount", "/data/prices/baseRent/amount")],
    ),
    "rule-19": (
        {
            "transaction": "auction_compulsory",
            "auction": {
                "minimum_bid": {"amount": "0", "currency": "EUR"},
                "starting_price": {"amount": "150000", "currency": "EUR"},
            },
        },
        [("auction.minimum_bid.amount", "/data/prices/minimumBid/amount")],
    ),
    "rule-20": (
        {"brokerage_fee": {"has_fee": True, "percent": None, "note": None}},
        [("brokerage_fee.amount", "/data/prices/brokerageFee/amount")],
    ),
    "rule-21": (
        {"description": {"de": "Mehr Bilder unter www.makler-berlin.de/expose"}},
        [("description.de", "/data/texts/description/de")],
    ),
}


def test_every_stateless_rule_has_a_case() -> None:
    """Twenty stateless rule functions exist, and every one of them has a breaking case here."""
    assert len(RULES) == 20
    assert sorted(CASES) == sorted(f"rule-{n:02d}" for n in range(1, 22) if n != 11)


async def test_the_valid_base_listing_passes_offline_and_on_the_sandbox(
    adapter: ImmoweltAdapter,
) -> None:
    """The base listing breaks no rule offline and the sandbox accepts it."""
    listing = make_listing()
    assert adapter.prepare(listing).issues == ()
    results = await sync(Driver(adapter), listing)
    assert [r.remote_id for r in results] == ["DE-1001"]


@pytest.mark.parametrize("rule", sorted(CASES))
async def test_offline_rules_and_sandbox_agree(adapter: ImmoweltAdapter, rule: str) -> None:
    """A listing breaking one rule is caught offline at the right canonical path and JSON
    pointer, and the sandbox refuses the same payload (sent past `prepare`) with the same
    pointers, which map back to the same canonical paths."""
    overrides, expected = CASES[rule]
    listing = make_listing(**overrides)

    offline = adapter.prepare(listing).issues
    assert {i.rule for i in offline} == {rule}
    assert {(i.path, i.portal_field) for i in offline} == set(expected)

    projection = unchecked_projection(adapter, listing)
    ctx = OperationContext(
        external_ref=listing.external_ref, remote_id=None, projection=projection, listing=listing
    )
    with pytest.raises(PortalValidationError) as refused:
        await adapter.apply(Operation(kind=OpKind.CREATE, payload=projection.fields), ctx)
    online = {(i.path, i.portal_field) for i in refused.value.issues}
    assert online == set(expected)
    assert refused.value.request_id
    assert refused.value.status_code == 400


async def test_rule_11_estate_type_change_is_blocked_offline_and_refused_online(
    adapter: ImmoweltAdapter,
) -> None:
    """Changing the estate type of a sent listing is refused by `plan` before sending (rule
    11, at `category`, saying what to do instead), and the sandbox refuses the same PUT at
    /data/estateType. Withdrawing the listing is still planned."""
    driver = Driver(adapter)
    await driver.sync(make_listing())
    changed = make_listing(category="house_detached")
    desired = prepared(adapter, changed)
    with pytest.raises(InvalidListingError) as blocked:
        adapter.plan(diff_projection(driver.sent, desired))
    assert [(i.rule, i.path, i.portal_field) for i in blocked.value.issues] == [
        ("rule-11", "category", "/data/estateType")
    ]
    message = blocked.value.issues[0].message
    assert "APARTMENT -> HOUSE" in message
    assert "new external_ref" in message
    assert "keep the category" in message
    ctx = OperationContext(
        external_ref="DE-1001", remote_id="DE-1001", projection=desired, listing=changed
    )
    with pytest.raises(PortalValidationError) as refused:
        await adapter.apply(Operation(kind=OpKind.UPDATE, changes=desired.fields), ctx)
    assert [(i.path, i.portal_field) for i in refused.value.issues] == [
        ("category", "/data/estateType")
    ]
    withdrawn = prepared(adapter, make_listing(category="house_detached", status="withdrawn"))
    ops = adapter.plan(diff_projection(driver.sent, withdrawn))
    assert [op.kind for op in ops] == [OpKind.DELETE]


# -- check_all: one walk, shared by the rules ----------------------------------------------

_KEYS = [
    "buildingStartDate", "availableFrom", "x/availableFrom", "validUntil", "someDate",
    "userHomepage", "imageURL", "linkUrl", "url", "vatPercent", "VATPERCENTAGE", "Percent",
    "percent~1x", "texts", "spaces", "structure", "prices", "amount", "data", "media", "a/b",
    "~0", "", "0", "headline", "de", "contact", "parkingLots", "hasFee", "brokerageFee",
]  # fmt: skip
_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 10**14),
    st.floats(-1e3, 1e15, allow_nan=False),
    st.sampled_from(
        ["", "2024-01-01", "01.05.2024", "https://x.de/a", "makler", "Tel 030 1234567"]
    ),
)
_TREES = st.recursive(
    _SCALARS,
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.sampled_from(_KEYS), children, max_size=4)
    ),
    max_leaves=12,
)
_EXTENSIONS = st.fixed_dictionaries(
    {},
    optional={
        "data": st.dictionaries(st.sampled_from(_KEYS), _TREES, max_size=5),
        "contact": _TREES,
        "media": _TREES,
        "other/top": _TREES,
    },
)


@settings(max_examples=300, deadline=None)
@given(extension=_EXTENSIONS)
def test_check_all_is_every_rule_run_on_its_own(extension: dict[str, Any]) -> None:
    """`check_all` walks the payload once and hands the leaves to the rules that read them;
    what it finds is exactly what each rule finds on its own, in the rules' order, wherever an
    extension puts a date, URL or percentage (nested in lists, keys holding "/" or "~",
    percentages in any case) or a scalar where an object belongs."""
    listing = make_listing(extensions={"immowelt": extension})
    payload = to_immowelt_payload(listing, software_name="x", external_customer_id="c")
    expected = [issue for rule in RULES for issue in rule(payload, listing)]
    assert check_all(payload, listing) == expected


def test_leaf_rules_find_fields_wherever_their_suffix_is() -> None:
    """Rules 4, 5 and 16 judge a field by the end of its pointer only: a key that holds "/"
    counts by what follows its last "/", a list item never counts, "percent" in any case."""
    payload = {
        "data": {
            "a": [{"x/availableFrom": "1.1.2024", "VatPERCENT": 101}, "not a date"],
            "percentage": 100,
        },
        "contact": {"userHomepage": "no-url", "linkUrl": "https://makler.de/a"},
    }
    issues = check_all(payload, None)
    leaf_rules = {"rule-04", "rule-05", "rule-16"}
    assert [(i.rule, i.portal_field) for i in issues if i.rule in leaf_rules] == [
        ("rule-04", "/data/a/0/x/availableFrom"),
        ("rule-05", "/contact/userHomepage"),
        ("rule-16", "/data/a/0/VatPERCENT"),
    ]


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("Helle Wohnung mit Balkon. Ruhige Lage, 2. OG.", []),
        ("<b>Hell</b> &amp; ruhig", ["HTML"]),
        ("Mehr unter WwW.makler-berlin.de", ["a URL"]),
        ("Siehe HTTPS://makler-berlin.de/expose", ["a URL"]),
        ("Schreiben Sie an info@makler-berlin.de", ["an e-mail address"]),
        ("Rufen Sie an: 030 1234567 oder +49 30 7654321", ["a phone number"]),
        ("Baujahr 2020, 100 m², 3.0 Zimmer", []),
    ],
)
def test_text_content_names_what_it_finds(text: str, found: list[str]) -> None:
    """Rule 21 names each kind of forbidden content a text holds (the cheap pre-checks that
    spare most texts the pattern searches never hide one)."""
    payload = {"data": {"texts": {"description": {"de": text}}}}
    issues = rule_21_text_content(payload, None)
    expected = [f"text must not contain {', '.join(found)}"] if found else []
    assert [i.message for i in issues] == expected


# -- odd shapes of extension values: a blocking issue, never an exception --------------------

_ODD = {"string": "X", "number": 7, "float": 1.5, "boolean": True, "array": ["A"], "object": {}}
_NOT_TEXT = {kind: value for kind, value in _ODD.items() if kind != "string"}
_ANY_PROJECT = {"metadata": {"source": _PROJECT_SOURCE}}


def _shape_case(data: dict[str, Any], pointer: str, rule: int) -> tuple[dict[str, Any], str, str]:
    extension = {"data": data, **_ANY_PROJECT} if "project" in pointer else {"data": data}
    return extension, pointer, f"rule-{rule:02d}"


def _shape_cases() -> dict[str, tuple[dict[str, Any], str, str]]:
    """Each value a rule reads from an extension, holding a JSON type it does not take."""
    cases = {
        f"estateSubTypes-{kind}": _shape_case({"estateSubTypes": value}, "/data/estateSubTypes", 6)
        for kind, value in _ODD.items()
        if kind != "object"
    }
    for kind, odd in _NOT_TEXT.items():
        shapes: list[tuple[str, dict[str, Any], int]] = [
            ("/data/estateSubTypes/apartment", {"estateSubTypes": {"apartment": odd}}, 6),
            ("/data/distributionType", {"distributionType": odd}, 7),
            ("/data/distributionSubType", {"distributionSubType": odd}, 7),
            (
                "/data/distributionSubType",
                {"distributionType": "RENT", "distributionSubType": odd},
                7,
            ),
            (
                "/data/projectEstateType",
                {"projectEstateType": odd, "projectEstateSubType": "HOUSE"},
                8,
            ),
            (
                "/data/projectEstateSubType",
                {"projectEstateType": "NEW_HOME_PROJECT", "projectEstateSubType": odd},
                8,
            ),
            (
                "/data/projectDistributionType",
                {"projectDistributionType": odd, "projectDistributionSubType": "NEW_HOME"},
                9,
            ),
            (
                "/data/projectDistributionSubType",
                {"projectDistributionType": "BUY", "projectDistributionSubType": odd},
                9,
            ),
        ]
        for pointer, data, rule in shapes:
            rent = "-rent" if data.get("distributionType") == "RENT" else ""
            cases[f"{pointer[6:]}{rent}-{kind}"] = _shape_case(data, pointer, rule)
    return cases


SHAPE_CASES = _shape_cases()


@pytest.mark.parametrize("case", sorted(SHAPE_CASES))
async def test_odd_extension_shapes_block_the_listing_offline_and_on_the_sandbox(
    adapter: ImmoweltAdapter, case: str
) -> None:
    """A value of the wrong JSON type where a rule reads a vocabulary field (an array for
    `estateSubTypes`, an object for `distributionSubType`, ...) is one blocking error at that
    field's extension path naming the type Immowelt expects, not an exception; the sandbox
    refuses the same payload (sent past `prepare`) with a 400 at the same field."""
    extension, pointer, rule = SHAPE_CASES[case]
    listing = make_listing(extensions={"immowelt": extension})
    path = _EXT + pointer.replace("/", ".")

    offline = adapter.prepare(listing).issues
    assert [(i.rule, i.path, i.portal_field, i.severity) for i in offline] == [
        (rule, path, pointer, Severity.ERROR)
    ]
    assert "must be " in offline[0].message

    refused = await _refused_create(adapter, listing)
    assert {(i.path, i.portal_field) for i in refused.issues} == {(path, pointer)}


@pytest.mark.parametrize(
    ("extension", "pointer"),
    [
        ({"contact": "erika@makler-berlin.de"}, "/contact"),
        ({"contact": ["erika"]}, "/contact"),
        ({"contact": 7}, "/contact"),
        ({"data": {"prices": "450000"}}, "/data/prices"),
        ({"data": {"prices": [450000]}}, "/data/prices"),
        ({"media": ["x"]}, "/media/0/externalMediaId"),
        ({"media": "x"}, "/media"),
        ({"media": {"externalMediaId": "m-1"}}, "/media"),
    ],
)
async def test_sandbox_refuses_objects_of_the_wrong_type_with_a_400(
    adapter: ImmoweltAdapter, extension: dict[str, Any], pointer: str
) -> None:
    """Where no offline rule reads inside a member (`contact`, `data.prices`) the payload may
    reach the portal: the sandbox answers a 400 problem naming the member, not a 500."""
    listing = make_listing(extensions={"immowelt": extension})
    refused = await _refused_create(adapter, listing)
    assert pointer in {i.portal_field for i in refused.issues}


async def _refused_create(adapter: ImmoweltAdapter, listing: Listing) -> PortalValidationError:
    """Send `listing`'s create past `prepare`; the sandbox must refuse it with a 400."""
    projection = unchecked_projection(adapter, listing)
    ctx = OperationContext(
        external_ref=listing.external_ref, remote_id=None, projection=projection, listing=listing
    )
    with pytest.raises(PortalValidationError) as refused:
        await adapter.apply(Operation(kind=OpKind.CREATE, payload=projection.fields), ctx)
    assert refused.value.status_code == 400
    return refused.value
