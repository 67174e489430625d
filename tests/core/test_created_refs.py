"""`CreatedRefs`: the refs an adapter instance created, in bounded memory, never missing one."""

from __future__ import annotations

from listsync.adapter import CreatedRefs


def test_the_latest_are_exact_and_the_table_is_bounded() -> None:
    refs = CreatedRefs(recent=100)
    for i in range(20_000):
        refs.add(f"REF-{i}", f"id-{i}")
    assert len(refs) == 100
    assert [refs.remote_id(f"REF-{i}") for i in (19_999, 19_900)] == ["id-19999", "id-19900"]
    assert refs.remote_id("REF-19899") is None  # older: in the filter, without its id
    assert refs.remote_id("REF-0") is None


def test_no_ref_added_is_ever_missed() -> None:
    refs = CreatedRefs(recent=50, bits=1 << 16)
    added = [f"obj-{i}-b{i % 7}" for i in range(5_000)]
    for ref in added:
        refs.add(ref)
    assert all(ref in refs for ref in added)


def test_a_ref_never_added_is_rarely_claimed() -> None:
    """20,000 refs in 2**20 bits: about 1.6e-6 of other refs are claimed (each claim costs the
    adapter one request to the portal, never a wrong answer)."""
    refs = CreatedRefs(recent=10, bits=1 << 20)
    for i in range(20_000):
        refs.add(f"REF-{i}")
    claimed = sum(f"OTHER-{i}" in refs for i in range(20_000))
    assert claimed <= 3
    assert 123 not in refs


def test_the_latest_create_of_a_ref_wins_and_a_deleted_one_is_forgotten() -> None:
    refs = CreatedRefs(recent=3)
    refs.add("a", "1")
    refs.add("b", "2")
    refs.add("a", "3")  # created again (the first was gone): it is the latest now
    refs.add("c", "4")
    refs.add("d", "5")  # "b" goes to the filter, "a" stays exact
    assert refs.remote_id("a") == "3"
    assert refs.remote_id("b") is None
    assert "b" in refs
    refs.discard("c")
    assert "c" not in refs
    assert refs.remote_id("c") is None


def test_nothing_is_claimed_before_anything_is_added() -> None:
    refs = CreatedRefs()
    assert "x" not in refs
    assert len(refs) == 0
