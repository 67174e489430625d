"""The JSON Schema of the canonical `Listing` (checked in as `schemas/listing.schema.json`)."""

from __future__ import annotations

import json
from typing import Any

from listsync.model._listing import Listing

__all__ = ["JSON_SCHEMA_DIALECT", "listing_json_schema", "render_listing_json_schema"]

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def listing_json_schema() -> dict[str, Any]:
    """The validation-mode JSON Schema of `Listing`, draft 2020-12 (`$schema` first).

    Rules that JSON Schema cannot express (postal codes per country, coordinates inside the
    address's country, a sold listing needs `sale`) are enforced by the model only.
    """
    schema = Listing.model_json_schema(mode="validation")
    return {"$schema": JSON_SCHEMA_DIALECT, **schema}


def render_listing_json_schema() -> str:
    """The schema as the stable text written to `schemas/listing.schema.json`."""
    return json.dumps(listing_json_schema(), indent=2, ensure_ascii=False, sort_keys=False) + "\n"
