"""What Immowelt holds for a listing, as a `Projection` in the terms `prepare` builds (pure).

`GET /listings/{externalListingId}` answers `{"listing": {...}}`: the import payload as it was
last written (`data`, `metadata`, `contact`, `media`), plus members the portal assigns. Those
are dropped so that `diff_projection(remote, desired)` finds exactly what drifted:

- `listingId` (Immowelt's own UUID, also in every 202 answer);
- `metadata.portalWebKey`, the short public id Immowelt's listing import API document says the
  portal assigns (kept when the projection compared against carries one itself).

Media come back as references only (`{"externalMediaId", "position"}`), without the URL the
bytes came from. The media key `prepare` gives an item is its `externalMediaId`, a hash of the
listing's ref and the URL (`mapping.media_id`), so a reference whose id is one of `like`'s items
is that very URL: its payload (`externalMediaId`, `fileName`, `url`) is taken from `like`. A
reference unknown to `like` keeps only its id (the portal cannot tell its URL; it can only be
dropped, never re-sent). An item's `canonical_index` is its place in the portal's list, as
`prepare` numbers them.

Values equal to `like`'s at the same place (say `450000.0` for `450000`) are returned as
`like`'s, so they never count as drift nor change the projection's digest.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from listsync.adapter import ProjectedItem, Projection, TargetState, new_item

__all__ = ["PORTAL_MEMBERS", "remote_projection"]

PORTAL_MEMBERS = frozenset({"listingId"})
"""Top-level members of a read-back listing that the portal assigns (never sent)."""

_MISSING: Any = object()


def _prefer_like(value: Any, like: Any) -> Any:
    """`value`, with every part equal to `like`'s at the same place replaced by `like`'s."""
    if isinstance(value, dict) and isinstance(like, dict):
        return {k: _prefer_like(v, like.get(k, _MISSING)) for k, v in value.items()}
    if isinstance(value, list) and isinstance(like, list) and len(value) == len(like):
        return [_prefer_like(v, w) for v, w in zip(value, like, strict=True)]
    if like is _MISSING or isinstance(value, bool) != isinstance(like, bool):
        return value  # True == 1 in Python, but not on the wire
    return copy.deepcopy(like) if value == like else value


def _fields(listing: Mapping[str, Any], like: Projection | None) -> dict[str, Any]:
    fields = {k: copy.deepcopy(v) for k, v in listing.items() if k not in PORTAL_MEMBERS}
    metadata = fields.get("metadata")
    wanted = like.fields.get("metadata") if like is not None else None
    keeps_key = isinstance(wanted, dict) and "portalWebKey" in wanted
    if isinstance(metadata, dict) and "portalWebKey" in metadata and not keeps_key:
        fields["metadata"] = {k: v for k, v in metadata.items() if k != "portalWebKey"}
    if fields.get("media") is None:
        fields["media"] = []  # `prepare` always sends the list, even empty
    if like is not None:
        fields = _prefer_like(fields, like.fields)
    return fields


def _media(refs: Any, like: Projection | None) -> tuple[tuple[ProjectedItem, ...], dict[str, str]]:
    known = {item.key: item for item in like.media} if like is not None else {}
    items: list[ProjectedItem] = []
    ids: dict[str, str] = {}
    for index, ref in enumerate(refs if isinstance(refs, list) else []):
        media_id = ref.get("externalMediaId") if isinstance(ref, dict) else None
        if not isinstance(media_id, str) or not media_id or media_id in ids:
            continue
        same = known.get(media_id)
        payload = dict(same.payload) if same is not None else {"externalMediaId": media_id}
        items.append(new_item(media_id, index, payload))
        ids[media_id] = media_id
    return tuple(items), ids


def remote_projection(
    listing: Mapping[str, Any], *, external_ref: str, like: Projection | None = None
) -> tuple[Projection, dict[str, str]]:
    """The projection of a listing as `GET /listings/{id}` returned it, and its media ids.

    Args:
        listing: the `listing` object of the answer.
        external_ref: the listing's ref (the path's `externalListingId`).
        like: the projection the engine would send, if any (see the module docstring).

    Returns:
        The projection (target PUBLISHED: a listing Immowelt holds is live; the import API has
        no unpublished state) and `item_ids` (media key -> `externalMediaId`, the same string).
    """
    fields = _fields(listing, like)
    media, ids = _media(fields.get("media"), like)
    projection = Projection(
        external_ref=external_ref, fields=fields, media=media, target=TargetState.PUBLISHED
    )
    return projection, ids
