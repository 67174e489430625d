"""The external refs an adapter instance created, for its look-ups by ref, in bounded memory.

An adapter that answers look-ups by `external_ref` from an index of the account's listings
(read once) must also know the records it created itself afterwards, or a later look-up of one
of them would miss and the listing could be created twice. Kept as a table, that knowledge
grows with every listing created: ≈ 400 bytes each in Hemnet's index, which made the peak
memory of a 100,000-listing `apply` grow with the number of listings. Kept here instead: the
latest `recent` refs exactly (with their remote ids), every earlier one as a few bits of a
fixed-size Bloom filter, which never forgets a ref but may, rarely, claim one it never saw.
So a look-up asks the portal (one request) only for a ref created here before the recent
ones, or for such a false claim; it never misses a record created here.
"""

from __future__ import annotations

__all__ = ["CreatedRefs"]


class CreatedRefs:
    """Refs created by one adapter instance: `remote_id(ref)` exact for the latest `recent`,
    `ref in refs` true for every ref ever added (and, rarely, for another: see the module).

    Args:
        recent: refs kept exactly, with their remote ids (the oldest goes first).
        bits: size of the filter the older refs go to (allocated when the first one goes):
            2**22 bits (512 KiB) with 6 bits per ref claim a ref never added about once in
            180,000 look-ups after 100,000 refs, once in 56 after 500,000.
        hashes: bits set per ref.
    """

    def __init__(self, recent: int = 4096, bits: int = 1 << 22, hashes: int = 6) -> None:
        self._limit = max(1, recent)
        self._recent: dict[str, str | None] = {}
        self._bits = max(8, bits)
        self._hashes = max(1, hashes)
        self._filter: bytearray | None = None

    def add(self, ref: str, remote_id: str | None = None) -> None:
        """Note a record this instance created (its remote id, when look-ups need it)."""
        recent = self._recent
        recent.pop(ref, None)  # the latest create of a ref is the one kept
        recent[ref] = remote_id
        if len(recent) > self._limit:
            oldest = next(iter(recent))
            del recent[oldest]
            if self._filter is None:
                self._filter = bytearray((self._bits + 7) // 8)
            for bit in self._positions(oldest):
                self._filter[bit >> 3] |= 1 << (bit & 7)

    def remote_id(self, ref: str) -> str | None:
        """The remote id of `ref` when it is one of the recent refs (and was given one)."""
        return self._recent.get(ref)

    def discard(self, ref: str) -> None:
        """Forget `ref` (its record was deleted) as far as the recent refs go; the filter
        cannot forget, so an older ref stays claimed (a look-up asks the portal)."""
        self._recent.pop(ref, None)

    def __contains__(self, ref: object) -> bool:
        if not isinstance(ref, str):
            return False
        if ref in self._recent:
            return True
        found = self._filter
        if found is None:
            return False
        return all(found[bit >> 3] & (1 << (bit & 7)) for bit in self._positions(ref))

    def __len__(self) -> int:
        """The refs kept exactly (at most `recent`): what this table holds besides the filter."""
        return len(self._recent)

    def _positions(self, ref: str) -> list[int]:
        # two hashes of the ref give every position (Kirsch and Mitzenmacher); str hashes
        # differ between processes, which is fine for a table that lives in one
        first = hash(ref)
        step = hash((ref, 0x9E3779B9)) | 1
        size = self._bits
        return [(first + i * step) % size for i in range(self._hashes)]
