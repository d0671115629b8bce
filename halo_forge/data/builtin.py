"""Built-in offline datasets, generated deterministically (no download, no files to ship).

`arithmetic`: two-digit addition questions ("What is 47+38?") with exact answers. The training
labels come from a deliberately *sloppy teacher* with two independent flaws (about 36 % of its
labels are right):
  1. it always forgets the carry into the tens: 47+38 -> 75, 68+57 -> 115;
  2. on 60 % of the problems whose answer reaches 100 it leaves off the hundreds digit: 67+52 -> 19
     (which problems is fixed per problem; on the other 40 % it writes 119).
Supervised fine-tuning copies both flaws. `arithmetic_pref` holds the preference pairs that fix
flaw 1 only: the teacher's answer with the carry done right (chosen) against the same answer with
the carry wrong (rejected), both in the teacher's hand, so flaw 2 is still in 60 % of the chosen
answers of 100 or more: no pair tells the hundreds digit right from wrong. `arithmetic_prompts`
(halo_forge.data.prompts) has the same problems with the true sums, for a verifier. Held-out rows
are the same problems in every set and are scored against the true sums, never the teacher's.
"""

from __future__ import annotations

import hashlib
from typing import Iterable

PAIRS = [(a, b) for a in range(10, 100) for b in range(10, 100)]
HELDOUT_FRACTION = 0.1
TEACHER_HUNDREDS_MISS_RATE = 0.6  # flaw 2: answers of 100 or more written without their hundreds digit


def _unit(key: str) -> float:
    """A stable pseudo-random number in [0, 1) for `key` (same on every machine and Python)."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") / 2**64


def is_heldout(a: int, b: int) -> bool:
    return _unit(f"heldout:{a}+{b}") < HELDOUT_FRACTION


def has_carry(a: int, b: int) -> bool:
    """Whether the units digits carry into the tens (47+38: 7+8 = 15)."""
    return (a % 10) + (b % 10) >= 10


def teacher_writes(value: int, a: int, b: int, seed: int = 0) -> str:
    """How the teacher writes `value` as its answer to a+b: flaw 2, a value of 100 or more loses its
    hundreds digit on TEACHER_HUNDREDS_MISS_RATE of the problems (a fixed draw per problem)."""
    if value >= 100 and _unit(f"teacher-hundreds:{seed}:{a}+{b}") < TEACHER_HUNDREDS_MISS_RATE:
        return str(value)[1:]
    return str(value)


def sloppy_answer(a: int, b: int, seed: int = 0) -> str:
    """The teacher's answer to a+b: flaw 1, the carry into the tens is always dropped; then flaw 2."""
    return teacher_writes(a + b - 10 if has_carry(a, b) else a + b, a, b, seed)


def arithmetic_row(a: int, b: int, seed: int = 0) -> dict:
    return {
        "prompt": f"What is {a}+{b}?",
        "completion": sloppy_answer(a, b, seed),
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
    """A pair that judges the carry only: the teacher's answer with the carry into the tens done right
    (chosen) against the same answer with it wrong (rejected): dropped on a carry problem (47+38: 85
    over 75), spurious otherwise (17+21: 38 over 48). Both are written by the teacher, so flaw 2
    stays (67+58: 25 over 15 on a problem where it drops the hundreds digit); `answer` is the true sum."""
    total = a + b
    wrong = total - 10 if has_carry(a, b) else total + 10
    return {"prompt": [{"role": "user", "content": f"What is {a}+{b}?"}],
            "chosen": [{"role": "assistant", "content": teacher_writes(total, a, b)}],
            "rejected": [{"role": "assistant", "content": teacher_writes(wrong, a, b)}],
            "answer": str(total)}


def preference_split() -> tuple[list[dict], list[dict]]:
    """(train, held-out) pairs over the problems of `arithmetic_split` (held-out never trained on)."""
    train, heldout = [], []
    for a, b in PAIRS:
        (heldout if is_heldout(a, b) else train).append(preference_row(a, b))
    heldout.sort(key=lambda r: _unit("order:" + r["prompt"][0]["content"]))
    return train, heldout


BUILTIN = {
    "arithmetic": "two-digit addition; labels from a teacher with two flaws (36 % right), true held-out answers",
    "arithmetic_pref": "two-digit addition preference pairs that judge the carry only (right over wrong)",
}


def load_builtin(name: str) -> tuple[list[dict], list[dict]]:
    if name == "arithmetic":
        train, heldout = arithmetic_split()
        return [to_chat(r) for r in train], [to_chat(r) for r in heldout]
    if name == "arithmetic_pref":
        return preference_split()
    raise KeyError(name)
