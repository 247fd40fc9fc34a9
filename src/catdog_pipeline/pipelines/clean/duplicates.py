"""Group images that are the same photo: equal pixels, or perceptual hashes a few bits apart;
then keep one image of each group, or none when the group mixes labels."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from .hamming import hamming_pairs

HEX_DIGITS = np.full(256, -1, dtype=np.int16)
HEX_DIGITS[np.frombuffer(b"0123456789abcdef", np.uint8)] = np.arange(16)
HEX_DIGITS[np.frombuffer(b"ABCDEF", np.uint8)] = np.arange(10, 16)


def parse_hashes(phashes: Sequence[str]) -> np.ndarray:
    """64-bit hashes from their 16-digit hex strings (imagehash's `str()`), as uint64."""
    text = np.asarray(phashes, dtype=object).astype("S16")
    digits = HEX_DIGITS[text.view(np.uint8).reshape(len(text), 16)].astype(np.int8)
    if (digits < 0).any():
        bad = text[np.flatnonzero((digits < 0).any(axis=1))[0]].decode(errors="replace")
        raise ValueError(f"Perceptual hash {bad!r} is not 16 hex digits")
    hashes = np.zeros(len(text), dtype=np.uint64)
    for column in digits.T:  # most significant digit first
        hashes = (hashes << np.uint64(4)) | column.astype(np.uint64)
    return hashes


def near_duplicate_pairs(phashes: Sequence[str], max_distance: int) -> np.ndarray:
    """Index pairs (i < j), sorted, whose 64-bit hex hashes differ in at most `max_distance`
    bits (-1: none): exactly the pairs of comparing every hash with every other."""
    if max_distance < 0 or len(phashes) < 2:
        return np.empty((0, 2), dtype=np.int64)
    return hamming_pairs(parse_hashes(phashes), max_distance)


def group_ids(count: int, pairs: np.ndarray) -> np.ndarray:
    """Connected components of `count` items joined by `pairs`: one id per item, numbered
    0, 1, ... in the order of each component's first item (scipy's graph search)."""
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    graph = coo_matrix(
        (np.ones(len(pairs), dtype=np.int32), (pairs[:, 0], pairs[:, 1])), shape=(count, count)
    )
    return connected_components(graph, directed=False)[1].astype(np.int64)


def pairs_of_equal(values: Sequence[str]) -> np.ndarray:
    """Index pairs joining every item to the first item with the same value (a missing value
    joins nothing)."""
    codes = pd.Series(values).factorize()[0]
    items = np.flatnonzero(codes >= 0)
    leaders = first_of_each(codes)[codes[items]]
    later = leaders != items
    return np.stack([leaders[later], items[later]], axis=1)


def first_of_each(codes: np.ndarray) -> np.ndarray:
    """For codes 0, 1, ... (-1: missing) as pd.factorize numbers them: each one's first index."""
    values, first = np.unique(codes, return_index=True)
    return first[values >= 0]


def duplicate_groups(
    pixel_sha256: Sequence[str], phashes: Sequence[str], max_distance: int
) -> np.ndarray:
    """Component id of every image, joined by equal pixels or by perceptual hashes at most
    `max_distance` bits apart (-1: equal pixels only).

    The components are those of joining every near pair, but images sharing one hash are
    chained to the first of them and only distinct hashes are searched: 100,000 copies of a
    blank photo make 100,000 links, not 5 billion pairs.
    """
    pairs = [pairs_of_equal(pixel_sha256)]
    if max_distance >= 0:
        codes, distinct = pd.Series(phashes).factorize()
        first = first_of_each(codes)
        pairs.append(pairs_of_equal(phashes))
        pairs.append(first[near_duplicate_pairs(distinct, max_distance)])
    return group_ids(len(pixel_sha256), np.concatenate(pairs))


def resolve_groups(members: pd.DataFrame) -> pd.DataFrame:
    """Status and reason of each image in a duplicate group (`duplicate_group` >= 0).

    A group mixing labels is a `conflict` (`label_conflict`) whole; otherwise its largest image
    (then the first by original and raw path) is `kept` and the rest are `duplicate`s, an
    `exact_duplicate` when its pixels equal the kept image's, else a `near_duplicate`.
    """
    group = members["duplicate_group"]
    conflict = (members.groupby(group)["label"].transform("nunique") > 1).to_numpy()
    pixels = (members["width"] * members["height"]).astype("int64")
    ranked = members.assign(pixels=-pixels).sort_values(
        ["duplicate_group", "pixels", "original_path", "raw_path"]
    )
    keepers = ranked.drop_duplicates("duplicate_group")
    kept = members.index.isin(keepers.index)
    keeper_pixels = group.map(keepers.set_index("duplicate_group")["pixel_sha256"])
    exact = (members["pixel_sha256"] == keeper_pixels).to_numpy(dtype=bool, na_value=False)
    return pd.DataFrame(
        {
            "status": np.select([conflict, kept], ["conflict", "kept"], "duplicate"),
            "reason": np.select(
                [conflict, kept, exact],
                ["label_conflict", None, "exact_duplicate"],
                "near_duplicate",
            ),
        },
        members.index,
    )
