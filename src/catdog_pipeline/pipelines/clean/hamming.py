"""Every pair of 64-bit hashes at most d bits apart, in time that grows with N, not N squared.

Multi-index hashing (Norouzi, Punjani and Fleet, "Fast Search in Hamming Space with Multi-Index
Hashing", CVPR 2012): cut the 64 bits into m bands; two hashes at most d bits apart differ in
at most d // m bits in at least one band (pigeonhole). Band by band, each hash looks up the
buckets of band values within d // m bits of its own (its "probes"), and every candidate found
is checked on all 64 bits, so the pairs are exactly those of comparing every hash with every
other. m is chosen for the least expected work: with b = 64 / m bits per band, each probe meets
about N / 2**b candidates, and m near 64 / log2(N) keeps that near one (whole bands only come
close: at 10 M hashes, 3 bands of 21 bits meet ~5 per probe). For a large d (the
schema allows 16) the probes multiply, and comparing all pairs in blocks is cheaper; the
choice between the two is made on the same cost estimate. All of it is NumPy on whole arrays.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import combinations
from math import comb

import numpy as np

HASH_BITS = 64
# Probes (hash x band value looked up) and candidates (pairs checked) handled at once: the
# working memory stays under about 100 MB whatever N is, even when one band value is common.
PROBES_PER_BATCH = 1 << 20
CANDIDATES_PER_BATCH = 1 << 21
# Bands up to this wide find their buckets in a table of 2**width starts (16 MB at most).
TABLE_BITS = 22
# Costs in candidate checks (a gather, XOR and popcount of two hashes), timed on 12,000 and
# 192,000 random hashes: a probe through a table of bucket starts or through two binary
# searches, building one entry of such a table, and one hash-to-hash comparison when every
# pair is compared.
TABLE_PROBE_COST = 0.4
SEARCH_PROBE_COST = 0.8
TABLE_ENTRY_COST = 0.07
COMPARE_ALL_COST = 0.07
# Rows compared at once against all others when every pair is compared: BLOCK x N values.
BLOCK = 512


def hamming_pairs(hashes: np.ndarray, max_distance: int) -> np.ndarray:
    """Sorted index pairs (i < j) of uint64 `hashes` at most `max_distance` bits apart."""
    bands = search_plan(len(hashes), max_distance)
    if bands is None:
        return compare_all_pairs(hashes, max_distance)
    return index_pairs(hashes, max_distance, bands)


def search_plan(count: int, max_distance: int) -> int | None:
    """The number of bands with the least expected work for `count` evenly spread hashes, or
    None when comparing every pair costs less."""

    def cost(bands: int) -> float:
        widest, radius = -(-HASH_BITS // bands), max_distance // bands
        probes = sum(comb(widest, flipped) for flipped in range(radius + 1))
        table = widest <= TABLE_BITS
        meets = count / 2 ** (HASH_BITS / bands)
        per_probe = (TABLE_PROBE_COST if table else SEARCH_PROBE_COST) + meets
        return bands * (count * probes * per_probe + (TABLE_ENTRY_COST * 2**widest if table else 0))

    bands = min(range(1, min(max_distance + 1, HASH_BITS) + 1), key=cost)
    return bands if cost(bands) < COMPARE_ALL_COST * count**2 else None


def index_pairs(hashes: np.ndarray, max_distance: int, bands: int) -> np.ndarray:
    """`hamming_pairs` through a multi-index of `bands` bands (1 <= bands <= max_distance + 1)."""
    edges = np.linspace(0, HASH_BITS, bands + 1).round().astype(int).tolist()
    layout = [(start, end - start) for start, end in zip(edges[:-1], edges[1:], strict=True)]
    radius = max_distance // bands
    found = [np.empty(0, dtype=np.int64)]
    for band, (shift, width) in enumerate(layout):
        # Everything in the order of this band's values: a probe's bucket and its neighbours'
        # are then read in sequence rather than from random places (2-3x faster at 10M).
        order = np.argsort(_band(hashes, shift, width), kind="stable")
        ordered = hashes[order]
        keys = _band(ordered, shift, width)
        look_up = bucket_bounds(keys, width)
        for query, candidate in _candidates(keys, look_up, flip_masks(width, radius)):
            differ = ordered[query] ^ ordered[candidate]
            first, second = order[query], order[candidate]
            # Equal band values meet from both sides: keep one.
            keep = (first < second) | (keys[query] != keys[candidate])
            keep &= np.bitwise_count(differ) <= max_distance
            for earlier_shift, earlier_width in layout[:band]:  # found there already
                keep &= np.bitwise_count(_band(differ, earlier_shift, earlier_width)) > radius
            first, second = np.minimum(first, second)[keep], np.maximum(first, second)[keep]
            found.append(first * len(hashes) + second)
    codes = np.sort(np.concatenate(found))
    return np.stack([codes // len(hashes), codes % len(hashes)], axis=1)


def compare_all_pairs(hashes: np.ndarray, max_distance: int) -> np.ndarray:
    """`hamming_pairs` by comparing every hash with every other, BLOCK rows at a time."""
    pairs = [np.empty((0, 2), dtype=np.int64)]
    for start in range(0, len(hashes), BLOCK):
        block = hashes[start : start + BLOCK]
        rows, cols = np.nonzero(np.bitwise_count(block[:, None] ^ hashes) <= max_distance)
        rows = rows + start
        keep = rows < cols
        pairs.append(np.stack([rows[keep], cols[keep]], axis=1))
    return np.concatenate(pairs).astype(np.int64)


def flip_masks(width: int, radius: int) -> np.ndarray:
    """Every `width`-bit mask with at most `radius` bits set, 0 first."""
    masks = [
        sum(1 << bit for bit in bits)
        for flipped in range(radius + 1)
        for bits in combinations(range(width), flipped)
    ]
    return np.array(masks, dtype=np.uint64)


def bucket_bounds(sorted_keys: np.ndarray, width: int) -> Callable:
    """A function giving, for band values, where their bucket starts in `sorted_keys` and how
    many items it holds: a table of bucket starts for narrow bands, binary search otherwise."""
    if width > TABLE_BITS:

        def search(probes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            low = np.searchsorted(sorted_keys, probes, side="left")
            return low, np.searchsorted(sorted_keys, probes, side="right") - low

        return search
    # Bucket k is sorted_keys[starts[k]:starts[k + 1]]; both ends share a cache line.
    ends = np.bincount(sorted_keys.astype(np.intp), minlength=1 << width)
    np.cumsum(ends, out=ends)
    starts = np.zeros(len(ends) + 1, dtype=np.int32 if len(sorted_keys) < 2**31 else np.int64)
    starts[1:] = ends
    del ends

    def look_up(probes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        slots = probes.astype(np.intp)
        low = starts[slots]
        return low, starts[slots + 1] - low

    return look_up


def _band(values: np.ndarray, shift: int, width: int) -> np.ndarray:
    return (values >> np.uint64(shift)) & np.uint64((1 << width) - 1)


def _candidates(
    keys: np.ndarray, look_up: Callable, flips: np.ndarray
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(item, candidate) positions in the sorted band values `keys`: items whose band value is
    within the flips of each item's, in batches of about CANDIDATES_PER_BATCH (or one bucket,
    if that is larger)."""
    step = max(1, PROBES_PER_BATCH // len(flips))
    for start in range(0, len(keys), step):
        # Flip by flip, so that the look-ups of sorted values walk the table in order.
        probes = keys[None, start : start + step] ^ flips[:, None]
        upward = probes >= keys[None, start : start + step]  # close values meet once
        queries, probes = np.nonzero(upward)[1] + start, probes[upward]
        low, counts = look_up(probes)
        hit = np.flatnonzero(counts)
        queries, low, counts = queries[hit], low[hit], counts[hit]
        ends = np.cumsum(counts)
        total = int(ends[-1]) if len(ends) else 0
        cuts = np.searchsorted(ends, np.arange(0, total, CANDIDATES_PER_BATCH), side="right")
        for begin, end in zip(cuts, [*cuts[1:], len(ends)], strict=True):
            sizes = counts[begin:end]
            offsets = np.arange(sizes.sum()) - np.repeat(np.cumsum(sizes) - sizes, sizes)
            yield np.repeat(queries[begin:end], sizes), np.repeat(low[begin:end], sizes) + offsets
