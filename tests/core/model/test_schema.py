"""The checked-in JSON Schema matches the model."""

from __future__ import annotations

import json
from pathlib import Path

from listsync.model import JSON_SCHEMA_DIALECT, listing_json_schema, render_listing_json_schema

SCHEMA = Path(__file__).resolve().parents[3] / "schemas" / "listing.schema.json"


def test_checked_in_schema_is_current() -> None:
    """schemas/listing.schema.json equals what the model generates (run `listsync schema -o`)."""
    assert SCHEMA.read_text("utf-8") == render_listing_json_schema(), (
        "schema drift: run `listsync schema --output schemas/listing.schema.json`"
    )


def test_schema_is_draft_2020_12_and_strict() -> None:
    """The schema declares its dialect and forbids unknown keys like the model does."""
    schema = listing_json_schema()
    assert schema["$schema"] == JSON_SCHEMA_DIALECT
    assert schema["additionalProperties"] is False
    assert set(schema["required"]) == {"external_ref", "agency", "category", "address"}
    assert json.loads(SCHEMA.read_text("utf-8"))["title"] == "Listing"
