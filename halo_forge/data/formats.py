"""Row formats SFT understands, auto-detected, and their normalisation to TRL's shapes.

Canonical SFT rows are what TRL's SFTTrainer takes:
  - conversational prompt/completion: {"prompt": [messages], "completion": [messages]}
  - conversational:                   {"messages": [messages]}
  - plain prompt/completion:          {"prompt": str, "completion": str}
  - language modelling:               {"text": str}
plus an optional "answer" (verifiable ground truth used by held-out task accuracy).
"""

from __future__ import annotations

import re
from typing import Any, Callable

from halo_forge.errors import DataError

ROLE_ALIASES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant",
                "model": "assistant", "bot": "assistant", "system": "system", "tool": "tool",
                "function_call": "assistant", "observation": "tool", "function": "tool"}


def _messages(turns: Any, where: str) -> list[dict]:
    if not isinstance(turns, list) or not turns:
        raise DataError(f"{where}: expected a non-empty list of chat turns, got {type(turns).__name__}",
                        hint='write turns as [{"role": "user", "content": "..."}, {"role": "assistant", ...}]')
    out = []
    for i, turn in enumerate(turns):
        if not isinstance(turn, dict):
            raise DataError(f"{where}: turn {i} is not an object")
        role = turn.get("role", turn.get("from"))
        content = turn.get("content", turn.get("value"))
        if role is None or content is None:
            raise DataError(f"{where}: turn {i} needs 'role' and 'content' (found keys {sorted(turn)})")
        role = ROLE_ALIASES.get(str(role).lower())
        if role is None:
            raise DataError(f"{where}: turn {i} has unknown role {turn.get('role', turn.get('from'))!r}",
                            hint="use one of system, user, assistant, tool")
        out.append({"role": role, "content": str(content)})
    return out


def from_messages(row: dict, where: str) -> dict:
    msgs = _messages(row["messages"], where)
    if not any(m["role"] == "assistant" for m in msgs):
        raise DataError(f"{where}: chat row has no assistant turn to learn from",
                        hint="each chat needs at least one turn with role 'assistant'")
    return {"messages": msgs}


def from_sharegpt(row: dict, where: str) -> dict:
    return from_messages({"messages": row["conversations"]}, where)


def from_prompt_completion(row: dict, where: str) -> dict:
    prompt, completion = row["prompt"], row["completion"]
    if isinstance(prompt, list) or isinstance(completion, list):
        prompt = _messages(prompt, where) if isinstance(prompt, list) else [{"role": "user", "content": str(prompt)}]
        completion = (_messages(completion, where) if isinstance(completion, list)
                      else [{"role": "assistant", "content": str(completion)}])
        return {"prompt": prompt, "completion": completion}
    return {"prompt": str(prompt), "completion": str(completion)}


def from_alpaca(row: dict, where: str) -> dict:
    instruction = str(row["instruction"]).strip()
    extra = str(row.get("input") or "").strip()
    user = f"{instruction}\n\n{extra}" if extra else instruction
    return {"prompt": [{"role": "user", "content": user}],
            "completion": [{"role": "assistant", "content": str(row["output"])}]}


def from_question_answer(row: dict, where: str) -> dict:
    return {"prompt": [{"role": "user", "content": str(row["question"])}],
            "completion": [{"role": "assistant", "content": str(row["answer"])}]}


def from_text(row: dict, where: str) -> dict:
    return {"text": str(row["text"])}


# (name, columns that identify it, normaliser); the first match wins.
FORMATS: list[tuple[str, tuple[str, ...], Callable[[dict, str], dict]]] = [
    ("messages", ("messages",), from_messages),
    ("sharegpt", ("conversations",), from_sharegpt),
    ("prompt_completion", ("prompt", "completion"), from_prompt_completion),
    ("alpaca", ("instruction", "output"), from_alpaca),
    ("question_answer", ("question", "answer"), from_question_answer),
    ("text", ("text",), from_text),
]
KNOWN = "messages | conversations | prompt+completion | instruction+output (alpaca) | question+answer | text"


def detect_format(row: dict, where: str) -> tuple[str, Callable[[dict, str], dict]]:
    if not isinstance(row, dict):
        raise DataError(f"{where}: expected a JSON object per row, got {type(row).__name__}")
    for name, cols, fn in FORMATS:
        if all(c in row for c in cols):
            return name, fn
    raise DataError(f"{where}: row has none of the known column sets (found columns: {sorted(row)})",
                    hint=f"give each row one of: {KNOWN}")


def normalise_rows(rows: list[dict], where: Callable[[int], str]) -> tuple[str, list[dict]]:
    """Detect the format on the first row and normalise all rows; errors name the row."""
    if not rows:
        # where(0) is "file:1" or "file[row 0]": name the file alone
        source = re.sub(r"(:\d+|\[row 0\])$", "", where(0))
        raise DataError(f"{source}: the dataset is empty", hint="add at least one row")
    fmt, fn = detect_format(rows[0], where(0))
    cols = next(c for n, c, _ in FORMATS if n == fmt)
    out = []
    for i, row in enumerate(rows):
        if not isinstance(row, dict) or any(c not in row for c in cols):
            found = sorted(row) if isinstance(row, dict) else type(row).__name__
            raise DataError(f"{where(i)}: row is missing {', '.join(c for c in cols if c not in row) if isinstance(row, dict) else 'its columns'} "
                            f"(format {fmt} detected from the first row; found {found})",
                            hint=f"every row needs the columns {', '.join(cols)}")
        norm = fn(row, where(i))
        if row.get("answer") is not None and fmt != "question_answer":
            norm["answer"] = str(row["answer"])
        elif fmt == "question_answer":
            gold = final_answer(str(row["answer"]))
            if gold is not None:
                norm["answer"] = gold
        out.append(norm)
    return fmt, out


# The rest of the line after the first '####' (a model may keep generating after its answer).
_FINAL = re.compile(r"####[ \t]*([^\n]*\S)")
# A number; commas only as thousands separators, so "1,2,3" is three numbers, "1,234" one.
_NUMBER = re.compile(r"-?\d{1,3}(?:,\d{3})+(?!\d)(?:\.\d+)?|-?\d+(?:\.\d+)?")


def _boxed(text: str) -> list[str]:
    """Contents of every \\boxed{...}, nested braces included (\\boxed{\\frac{1}{2}})."""
    out, start = [], 0
    while (i := text.find("\\boxed{", start)) != -1:
        depth, j = 1, i + len("\\boxed{")
        while j < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            j += 1
        if depth:
            break
        out.append(text[i + len("\\boxed{"):j - 1])
        start = j
    return out


def final_answer(text: str) -> str | None:
    """The final answer of a worked solution: after '####', inside \\boxed{}, or the last number."""
    m = _FINAL.search(text)
    if m:
        return m.group(1).replace(",", "").strip()
    boxed = _boxed(text)
    if boxed:
        return boxed[-1].strip()
    nums = _NUMBER.findall(text)
    return nums[-1].replace(",", "") if nums else None


def answers_match(prediction: str | None, gold: str) -> bool:
    """Exact match after trimming, numeric equality when both sides are numbers."""
    if prediction is None:
        return False
    p, g = prediction.strip().replace(",", ""), gold.strip().replace(",", "")
    if p == g:
        return True
    try:
        return abs(float(p) - float(g)) < 1e-9
    except ValueError:
        return False
