"""Built-in offline datasets, generated deterministically (no download, no files to ship).

`arithmetic`: two-digit addition questions ("What is 47+38?") with exact answers. The training
labels come from a deliberately *sloppy teacher* that forgets the carry on 60 % of the problems
that need one (about 73 % of labels are right), so supervised fine-tuning copies a specific flaw
and plateaus well below 100 %: that headroom is what the later, checker-driven stages (DPO on the
model's own mistakes, GRPO with an exact-answer reward) are there to win back. Held-out rows are
scored against the true sums, never the teacher's.
"""

from __future__ import annotations

import hashlib
from typing import Iterable

PAIRS = [(a, b) for a in range(10, 100) for b in range(10, 100)]
HELDOUT_FRACTION = 0.1
TEACHER_CARRY_MISS_RATE = 0.6


def _unit(key: str) -> float:
    """A stable pseudo-random number in [0, 1) for `key` (same on every machine and Python)."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") / 2**64


def is_heldout(a: int, b: int) -> bool:
    return _unit(f"heldout:{a}+{b}") < HELDOUT_FRACTION


def sloppy_sum(a: int, b: int, seed: int = 0) -> int:
    """The teacher's answer: on 60 % of carry problems it drops the carry into the tens digit."""
    carry = (a % 10) + (b % 10) >= 10
    if carry and _unit(f"teacher:{seed}:{a}+{b}") < TEACHER_CARRY_MISS_RATE:
        return a + b - 10
    return a + b


def arithmetic_row(a: int, b: int, seed: int = 0) -> dict:
    return {
        "prompt": f"What is {a}+{b}?",
        "completion": str(sloppy_sum(a, b, seed)),
        "answer": str(a + b),
    }


def arithmetic_rows(indices: Iterable[int], seed: int = 0) -> list[dict]:
    return [arithmetic_row(*PAIRS[i % len(PAIRS)], seed=seed) for i in indices]


def arithmetic_split(seed: int = 0) -> tuple[list[dict], list[dict]]:
    """(train, held-out): the held-out problems never appear in training, in any order of seeds."""
    train, heldout = [], []
    for a, b in PAIRS:
        row = arithmetic_row(a, b, seed)
        (heldout if is_heldout(a, b) else train).append(row)
    # A fixed shuffle, so any prefix of the held-out set (--max-eval-samples) spans the whole range.
    heldout.sort(key=lambda r: _unit("order:" + r["prompt"]))
    return train, heldout


def to_chat(row: dict) -> dict:
    """Conversational prompt/completion form (what chat models are trained on)."""
    return {
        "prompt": [{"role": "user", "content": row["prompt"]}],
        "completion": [{"role": "assistant", "content": row["completion"]}],
        "answer": row["answer"],
    }


def preference_row(a: int, b: int) -> dict:
    """True sum (chosen) against the mistake an SFT'd model copied from the sloppy teacher (rejected).

    Carry problems: the dropped carry (a+b-10), the teacher's own flaw and the dominant error of the
    quickstart's SFT model (MEASURED: rejected answers drawn from the model's own mistakes work best).
    Other problems: an off-by-ten tens digit (a+b+10), a mistake of the same shape.
    """
    carry = (a % 10) + (b % 10) >= 10
    wrong = a + b - 10 if carry else a + b + 10
    return {"prompt": [{"role": "user", "content": f"What is {a}+{b}?"}],
            "chosen": [{"role": "assistant", "content": str(a + b)}],
            "rejected": [{"role": "assistant", "content": str(wrong)}],
            "answer": str(a + b)}


def preference_split() -> tuple[list[dict], list[dict]]:
    """(train, held-out) pairs over the same problems as `arithmetic_split` (held-out never trained on)."""
    train, heldout = [], []
    for a, b in PAIRS:
        (heldout if is_heldout(a, b) else train).append(preference_row(a, b))
    heldout.sort(key=lambda r: _unit("order:" + r["prompt"][0]["content"]))
    return train, heldout


BUILTIN = {
    "arithmetic": "two-digit addition with exact answers; sloppy-teacher labels (73 % right), true held-out answers",
    "arithmetic_pref": "two-digit addition preference pairs: true sum vs the dropped-carry mistake",
}


def load_builtin(name: str) -> tuple[list[dict], list[dict]]:
    if name == "arithmetic":
        train, heldout = arithmetic_split()
        return [to_chat(r) for r in train], [to_chat(r) for r in heldout]
    if name == "arithmetic_pref":
        return preference_split()
    raise KeyError(name)
