"""The near-duplicate index finds exactly the pairs of comparing every hash with every other, and
duplicate groups are the components of those pairs, without a pair per two equal hashes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from catdog_pipeline.core.params_schema import MAX_NEAR_DUPLICATE_DISTANCE
from catdog_pipeline.pipelines.clean import hamming
from catdog_pipeline.pipelines.clean.duplicates import (
    duplicate_groups,
    group_ids,
    near_duplicate_pairs,
    pairs_of_equal,
    parse_hashes,
    resolve_groups,
)
from catdog_pipeline.pipelines.clean.hamming import hamming_pairs, index_pairs


def every_pair_within(hashes: np.ndarray, max_distance: int) -> np.ndarray:
    """The reference: all N x N distances."""
    distances = np.bitwise_count(hashes[:, None] ^ hashes[None, :])
    first, second = np.nonzero(np.triu(distances <= max_distance, k=1))
    return np.stack([first, second], axis=1)


def hashes_with_neighbours(max_distance: int, count: int = 700, seed: int = 0) -> np.ndarray:
    """Random hashes, a third of them replaced by copies of others with 0 .. d + 1 bits
    flipped (pHash's top bit is always set, as in imagehash's hashes)."""
    rng = np.random.default_rng(seed)
    hashes = rng.integers(0, 2**63, count, dtype=np.uint64) | np.uint64(1 << 63)
    for index in range(count // 3):
        flipped = rng.choice(64, index % (max_distance + 2), replace=False)
        mask = sum(1 << int(bit) for bit in flipped)
        hashes[index] = hashes[rng.integers(count // 3, count)] ^ np.uint64(mask)
    return hashes


def union_find(count: int, pairs: np.ndarray) -> np.ndarray:
    """The grouping the clean stage used before: the smallest index of each item's component."""
    parent = list(range(count))

    def root(item: int) -> int:
        while parent[item] != item:
            item = parent[item]
        return item

    for first, second in pairs:
        a, b = root(int(first)), root(int(second))
        parent[max(a, b)] = min(a, b)
    return np.array([root(item) for item in range(count)])


def same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    return np.array_equal(pd.factorize(a)[0], pd.factorize(b)[0])


@pytest.mark.parametrize("max_distance", [0, 1, 4, 8, MAX_NEAR_DUPLICATE_DISTANCE])
def test_index_finds_exactly_the_pairs_of_comparing_all(max_distance: int) -> None:
    hashes = hashes_with_neighbours(max_distance)
    expected = every_pair_within(hashes, max_distance)
    distances = np.bitwise_count(hashes[expected[:, 0]] ^ hashes[expected[:, 1]])
    assert {0, max_distance} <= set(distances.tolist()), "the planted pairs reach the limit"
    just_past = np.bitwise_count(hashes[: len(hashes) // 3, None] ^ hashes) == max_distance + 1
    assert just_past.any(), "pairs one bit too far apart are planted, and must not pair"
    # Every band count whose probes stay few: table (narrow) and binary-search (wide) bands.
    for bands in range(max(1, (max_distance + 1) // 2), max_distance + 2):
        assert np.array_equal(index_pairs(hashes, max_distance, bands), expected), bands
    assert np.array_equal(hamming_pairs(hashes, max_distance), expected)
    as_hex = [f"{value:016x}" for value in hashes]
    assert np.array_equal(near_duplicate_pairs(as_hex, max_distance), expected)


def test_small_batches_give_the_same_pairs(monkeypatch) -> None:
    hashes = hashes_with_neighbours(4)
    hashes[:60] = hashes[100]  # one bucket bigger than a batch
    expected = every_pair_within(hashes, 4)
    monkeypatch.setattr(hamming, "PROBES_PER_BATCH", 50)
    monkeypatch.setattr(hamming, "CANDIDATES_PER_BATCH", 7)
    for bands in (3, 5):
        assert np.array_equal(index_pairs(hashes, 4, bands), expected), bands


def test_groups_are_the_components_of_every_near_pair() -> None:
    rng = np.random.default_rng(1)
    hashes = hashes_with_neighbours(4, count=900, seed=1)
    hashes[rng.integers(0, 900, 200)] = hashes[rng.integers(0, 900, 200)]  # equal hashes
    pixels = rng.integers(0, 700, 900).astype(str)  # some equal pixels, whatever the hash
    as_hex = [f"{value:016x}" for value in hashes]
    for max_distance in (-1, 0, 4):
        near = every_pair_within(hashes, max_distance) if max_distance >= 0 else []
        same_pixels = np.argwhere(np.triu(pixels[:, None] == pixels, k=1))
        pairs = np.concatenate([same_pixels, np.reshape(near, (-1, 2))])
        expected = union_find(900, pairs)
        assert same_partition(duplicate_groups(list(pixels), as_hex, max_distance), expected)
        assert same_partition(group_ids(900, pairs), expected)
    assert group_ids(5, np.array([[3, 1], [4, 3]])).tolist() == [0, 1, 2, 1, 1]


def test_many_equal_hashes_are_chained_not_paired() -> None:
    """100,000 blank photos: every pair would be 5 billion rows; the chain is 100,000 links."""
    count = 100_000
    phashes = ["8000000000000000"] * count + ["ffffffffffffffff", "fffffffffffffff0"]
    pixels = [f"p{index}" for index in range(count + 2)]
    groups = duplicate_groups(pixels, phashes, 4)
    assert (groups[:count] == groups[0]).all()
    assert groups[count] == groups[count + 1] != groups[0]
    chain = pairs_of_equal(phashes)
    assert len(chain) == count - 1 and (chain[:, 0] == 0).all()
    assert pairs_of_equal(["a", None, "b", "a", None]).tolist() == [[0, 3]]


def test_hashes_are_parsed_from_hex_and_bad_ones_named() -> None:
    parsed = parse_hashes(["0000000000000001", "FFFFFFFFFFFFFFFF", "8000000000000000"])
    assert parsed.tolist() == [1, 2**64 - 1, 2**63]
    with pytest.raises(ValueError, match="'00000000000000zz'"):
        parse_hashes(["0000000000000000", "00000000000000zz"])
    with pytest.raises(ValueError, match="'abc'"):
        parse_hashes(["abc"])


def test_each_group_keeps_its_largest_image_or_none_when_labels_mix() -> None:
    members = pd.DataFrame(
        {
            "duplicate_group": [0, 0, 0, 1, 1, 2, 2],
            "label": ["cat", "cat", "cat", "cat", "dog", "dog", "dog"],
            "width": pd.array([10, 20, 20, 30, 30, 5, 5], dtype="Int64"),
            "height": pd.array([10, 20, 20, 30, 30, 5, 5], dtype="Int64"),
            "original_path": ["a", "c", "b", "d", "e", "g", "f"],
            "raw_path": ["a", "c", "b", "d", "e", "g", "f"],
            "pixel_sha256": ["x", "y", "y", "z", "z", "u", "v"],
        },
        index=[10, 11, 12, 13, 14, 15, 16],
    )
    outcome = resolve_groups(members)
    assert outcome["status"].tolist() == [
        *["duplicate", "duplicate", "kept"],  # largest, then first by path
        *["conflict", "conflict"],
        *["duplicate", "kept"],
    ]
    assert outcome["reason"].fillna("-").tolist() == [
        *["near_duplicate", "exact_duplicate", "-"],
        *["label_conflict", "label_conflict"],
        *["near_duplicate", "-"],
    ]
