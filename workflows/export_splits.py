"""Seeded stratified splits for exports: every class in every split when it has enough images.

Torchvision's `ImageFolder` numbers the class folders it finds per split, and ultralytics checks
that every split holds the same classes, so a class missing from one split silently shifts the
labels of the others. `allocate` therefore gives each class at least one image in every split
when it has at least as many images as there are splits, and otherwise names the class so the
export can warn and write the canonical index (`classes.txt`). Counts are rounded by largest
remainder across the whole export (one pool of remainders for all classes and splits), so no
split is favoured by the rounding.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Mapping, Sequence
from typing import Any


def global_sizes(n: int, fractions: Sequence[float]) -> list[int]:
    """`n` items cut by `fractions` with largest remainders (ties to the earlier split)."""
    exact = [f * n for f in fractions]
    sizes = [math.floor(x) for x in exact]
    order = sorted(range(len(exact)), key=lambda i: (-(exact[i] - sizes[i]), i))
    for i in order[: n - sum(sizes)]:
        sizes[i] += 1
    return sizes


def allocate(counts: Sequence[int], fractions: Sequence[float]) -> list[list[int]]:
    """Images per (class, split): rows follow `counts`, columns `fractions`.

    Each class first gets the floor of its share, raised to 1 in every split when the class has
    at least one image per split (taken back from its largest splits). The remaining images go
    out by largest remainder over all (class, split) pairs at once, limited by what each split
    still lacks of its export-wide size, so the split totals match the fractions as closely as
    the one-per-split floor allows.
    """
    n_splits = len(fractions)
    totals = global_sizes(sum(counts), fractions)
    alloc: list[list[int]] = []
    for n in counts:
        row = [math.floor(f * n) for f in fractions]
        if n >= n_splits:
            row = [max(1, v) for v in row]
            while sum(row) > n:  # the raised floors overshoot: take back from the largest split
                j = max(range(n_splits), key=lambda j: (row[j], -j))
                row[j] -= 1
        alloc.append(row)
    left_class = [n - sum(row) for n, row in zip(counts, alloc)]
    left_split = [t - sum(row[j] for row in alloc) for j, t in enumerate(totals)]
    pairs = sorted(
        ((c, j) for c in range(len(counts)) for j in range(n_splits)),
        key=lambda cj: (-(fractions[cj[1]] * counts[cj[0]] - alloc[cj[0]][cj[1]]), cj[1], cj[0]),
    )
    for c, j in pairs:
        if left_class[c] > 0 and left_split[j] > 0 and fractions[j] * counts[c] - alloc[c][j] > 0:
            alloc[c][j] += 1
            left_class[c] -= 1
            left_split[j] -= 1
    for c, n_left in enumerate(left_class):  # what the remainders did not place
        while n_left > 0:
            j = max(range(n_splits), key=lambda j: (left_split[j], fractions[j] * counts[c] - alloc[c][j], -j))
            alloc[c][j] += 1
            left_split[j] -= 1
            n_left -= 1
    return alloc


def assign_splits(
    items: Iterable[tuple[int, Any]], splits: Mapping[str, float], seed: int
) -> tuple[dict[int, str], dict[str, list[Any]]]:
    """Seeded stratified assignment: image id -> split, and split -> the strata (classes) it lacks.

    Within each stratum a seeded shuffle of the sorted ids is cut into runs of the sizes
    `allocate` gives, so the same seed always gives the same assignment.
    """
    groups: dict[Any, list[int]] = {}
    for image_id, key in items:
        groups.setdefault(key, []).append(image_id)
    names = list(splits)
    keys = sorted(groups, key=repr)
    sizes = allocate([len(groups[k]) for k in keys], [splits[s] for s in names])
    out: dict[int, str] = {}
    missing: dict[str, list[Any]] = {}
    for key, row in zip(keys, sizes):
        ids = sorted(groups[key])
        random.Random(f"{seed}:{key!r}").shuffle(ids)
        start = 0
        for name, size in zip(names, row):
            for image_id in ids[start : start + size]:
                out[image_id] = name
            start += size
            if size == 0:
                missing.setdefault(name, []).append(key)
    return out, missing
