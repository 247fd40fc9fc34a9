"""Group images that are the same photo: equal pixels, or perceptual hashes a few bits apart."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# Rows compared at once against all others: bounds memory to BLOCK x N uint64 values.
BLOCK = 512


def near_duplicate_pairs(phashes: Sequence[str], max_distance: int) -> np.ndarray:
    """Index pairs (i < j) whose 64-bit hex hashes differ in at most `max_distance` bits."""
    if max_distance < 0 or len(phashes) < 2:
        return np.empty((0, 2), dtype=np.int64)
    hashes = np.array([int(value, 16) for value in phashes], dtype=np.uint64)
    pairs = []
    for start in range(0, len(hashes), BLOCK):
        block = hashes[start : start + BLOCK]
        distances = np.bitwise_count(block[:, None] ^ hashes[None, :])
        rows, cols = np.nonzero(distances <= max_distance)
        rows = rows + start
        keep = rows < cols
        pairs.append(np.stack([rows[keep], cols[keep]], axis=1))
    return np.concatenate(pairs).astype(np.int64)


def group_ids(count: int, pairs: np.ndarray) -> np.ndarray:
    """Connected components of `count` items joined by `pairs`: one id per item (union-find)."""
    parent = np.arange(count)

    def root(item: int) -> int:
        while parent[item] != item:
            parent[item] = parent[parent[item]]
            item = parent[item]
        return item

    for first, second in pairs:
        a, b = root(int(first)), root(int(second))
        if a != b:
            parent[max(a, b)] = min(a, b)
    return np.array([root(item) for item in range(count)], dtype=np.int64)


def pairs_of_equal(values: Sequence[str]) -> np.ndarray:
    """Index pairs joining every item to the first item with the same value."""
    first_seen: dict[str, int] = {}
    pairs = []
    for index, value in enumerate(values):
        if value in first_seen:
            pairs.append((first_seen[value], index))
        else:
            first_seen[value] = index
    return np.array(pairs, dtype=np.int64).reshape(-1, 2)
