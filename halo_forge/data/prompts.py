"""Prompts with ground truth, for the RL trainers (GRPO, RAFT) that sample their own completions.

Canonical row: ``{"prompt": [chat messages], <ground-truth fields the verifier reads>}``, e.g.
``answer`` (math), ``tests`` (execution), ``task_id`` (humaneval). Sources:
  - ``--data prompts.jsonl``: one object per line with ``prompt`` (text or chat list; ``question`` or
    ``instruction`` also accepted) plus the ground-truth fields, passed through untouched;
  - short names (`halo-forge grpo datasets`): built-in offline sets (``arithmetic_prompts``,
    ``code_prompts``) and hub sets (gsm8k, mbpp, humaneval) with their hub ids.
Rows are checked against the configured verifiers before any sampling: a missing field names the row.
"""

from __future__ import annotations

from halo_forge.data.registry import DatasetSpec
from halo_forge.errors import DataError


def _user(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


def _gsm8k(row: dict, where: str) -> dict:
    from halo_forge.data.formats import final_answer

    return {"prompt": _user(str(row["question"])), "answer": final_answer(str(row["answer"])) or str(row["answer"])}


def _mbpp(row: dict, where: str) -> dict:
    tests = "\n".join(row.get("test_list") or [])
    text = f"{row['text']}\nYour code should pass these tests:\n{tests}"
    return {"prompt": _user(text), "tests": tests, "task_id": str(row.get("task_id"))}


def _humaneval(row: dict, where: str) -> dict:
    return {"prompt": _user("Complete this Python function:\n" + str(row["prompt"])), "task_id": str(row["task_id"])}


PROMPT_DATASETS: dict[str, DatasetSpec] = {s.name: s for s in [
    DatasetSpec("arithmetic_prompts", "builtin", "Built-in, offline: two-digit addition questions with the true sum "
                "in `answer` (the quickstart task; verifier: math)."),
    DatasetSpec("code_prompts", "builtin", "Built-in, offline: 24 small Python functions to write, stdin/stdout tests "
                "in `tests` (verifier: execution)."),
    DatasetSpec("gsm8k", "openai/gsm8k", "GSM8K grade-school math; final answer in `answer` (verifier: math).",
                _gsm8k, config="main"),
    DatasetSpec("mbpp", "google-research-datasets/mbpp", "MBPP Python problems; assert tests in `tests` "
                "(verifier: pytest).", _mbpp, config="full"),
    DatasetSpec("humaneval", "openai/openai_humaneval", "HumanEval problems; `task_id` (verifier: humaneval).",
                _humaneval, split="test"),
]}


# --- built-in code task: tiny programs read stdin and print the result ----------------------------------
_CODE_TASKS = [
    ("the sum of two integers given on one line", [("2 3", "5"), ("10 -4", "6")]),
    ("the product of two integers given on one line", [("2 3", "6"), ("-4 5", "-20")]),
    ("the larger of two integers given on one line", [("2 3", "3"), ("9 -1", "9")]),
    ("the smaller of two integers given on one line", [("2 3", "2"), ("9 -1", "-1")]),
    ("the square of an integer", [("4", "16"), ("-3", "9")]),
    ("the absolute value of an integer", [("-7", "7"), ("5", "5")]),
    ("the input string reversed", [("abc", "cba"), ("halo", "olah")]),
    ("the input string in upper case", [("abc", "ABC"), ("Halo", "HALO")]),
    ("the length of the input string", [("abc", "3"), ("forge!", "6")]),
    ("the number of vowels in the input string", [("banana", "3"), ("xyz", "0")]),
    ("YES if the integer is even, else NO", [("4", "YES"), ("7", "NO")]),
    ("YES if the input string is a palindrome, else NO", [("level", "YES"), ("halo", "NO")]),
    ("the factorial of a non-negative integer", [("5", "120"), ("0", "1")]),
    ("the n-th Fibonacci number (F(0)=0, F(1)=1)", [("10", "55"), ("1", "1")]),
    ("the sum of the integers from 1 to n", [("10", "55"), ("1", "1")]),
    ("the sum of the digits of a non-negative integer", [("1234", "10"), ("0", "0")]),
    ("the number of words in the input line", [("a b c", "3"), ("halo forge", "2")]),
    ("the integers of the input line sorted ascending, space-separated", [("3 1 2", "1 2 3"), ("5", "5")]),
    ("the maximum of the integers on the input line", [("3 1 2", "3"), ("-5 -2", "-2")]),
    ("the input integer doubled", [("21", "42"), ("-1", "-2")]),
    ("YES if the integer is prime, else NO", [("7", "YES"), ("9", "NO")]),
    ("the greatest common divisor of two integers on one line", [("12 18", "6"), ("7 5", "1")]),
    ("the input string with its spaces removed", [("a b c", "abc"), ("halo forge", "haloforge")]),
    ("the remainder of the first integer divided by the second (one line)", [("7 3", "1"), ("10 5", "0")]),
]


def code_prompt_rows() -> list[dict]:
    return [{"prompt": _user(f"Write a Python program that reads from stdin and prints {what}. "
                             "Answer with the program in a ```python block."),
             "tests": [{"input": i, "output": o} for i, o in cases]} for what, cases in _CODE_TASKS]


def arithmetic_prompt_split() -> tuple[list[dict], list[dict]]:
    """The quickstart's problems as prompts (same held-out problems as `arithmetic`), true sums as answers."""
    from halo_forge.data.builtin import arithmetic_split

    train, heldout = arithmetic_split()
    strip = lambda rows: [{"prompt": _user(r["prompt"]), "answer": r["answer"]} for r in rows]  # noqa: E731
    return strip(train), strip(heldout)


def _prompt_row(row, where: str) -> dict:
    from halo_forge.data.formats import _messages

    if not isinstance(row, dict):
        raise DataError(f"{where}: expected a JSON object per row, got {type(row).__name__}")
    key = next((k for k in ("prompt", "question", "instruction") if row.get(k) is not None), None)
    if key is None:
        raise DataError(f"{where}: prompt row has no 'prompt' (found fields: {', '.join(sorted(row)) or 'none'})",
                        hint="each row needs a 'prompt' (text or chat list) plus the fields its verifier reads")
    value = row[key]
    prompt = _messages(value, f"{where}: column {key!r}") if isinstance(value, list) else _user(str(value))
    out = {k: v for k, v in row.items() if k not in (key, "completion", "chosen", "rejected")}
    out["prompt"] = prompt
    if out.get("answer") is not None and not isinstance(out["answer"], str):
        out["answer"] = str(out["answer"])
    return out


def _builtin(name: str) -> tuple[list[dict], list[dict]]:
    from halo_forge.data import split_rows

    return arithmetic_prompt_split() if name == "arithmetic_prompts" else split_rows(code_prompt_rows(), 0.25, 0)


def load_prompt_data(config):
    """`SplitData` of prompt rows for a GRPO/RAFT config (every row checked against its verifiers)."""
    from halo_forge.data.split import RowSource, load_split
    from halo_forge.rl import check_verifier_rows

    def canonical(raw):
        if raw.base is not None and not raw.rows:
            raise DataError(f"{raw.label}: the file holds no rows", hint="one JSON object per line: prompt + ground truth")
        fmt = raw.spec.formatter if raw.spec is not None and raw.spec.formatter else _prompt_row
        return "prompt", [fmt(r, raw.where(i)) for i, r in enumerate(raw.rows)], []

    return load_split(config, RowSource(PROMPT_DATASETS, canonical, _builtin, "prompt", unit="prompts",
                                        check=lambda rows, where: check_verifier_rows(config, rows, where)))
