"""Helpers of the generated built-in sets (reasoning chains, the tool world): a stable hash in [0, 1) and a
train/held-out split of distinct questions that never depends on the order rows were generated in."""

from __future__ import annotations

from typing import Callable

from halo_forge.data.builtin import _unit as unit


def distinct_split(make_row: Callable[[int], dict], n: int, heldout_fraction: float,
                   key: Callable[[dict], str] = lambda r: r["prompt"][0]["content"]) -> tuple[list[dict], list[dict]]:
    """(train, held-out) from ``make_row(0), make_row(1), …`` until ``n`` distinct questions: a question is
    held out by a hash of its text, so it is never trained on whatever ``n`` or the seed."""
    seen: set[str] = set()
    train: list[dict] = []
    heldout: list[dict] = []
    i = 0
    while len(seen) < n and i < 20 * n:
        row = make_row(i)
        i += 1
        q = key(row)
        if q in seen:
            continue
        seen.add(q)
        (heldout if unit(f"heldout:{q}") < heldout_fraction else train).append(row)
    return train, heldout


__all__ = ["unit", "distinct_split"]
