"""Reasoning data: the built-in multi-step arithmetic set and the hub sets, in the think/answer format.

`arithmetic_chains` (built-in, offline, deterministic from a seed): "Start at 7. Add 5, then subtract 3."
chains of 2–4 operations on small numbers, with worked steps for SFT in the think/answer format::

    <think>7+5=12
    12-3=9</think>9

The SFT labels come from a *sloppy teacher* (as the quickstart's `arithmetic`): on a step whose addition
crosses a ten it forgets the carry (writes 7+5=2) on `TEACHER_CARRY_MISS_RATE` (60 %) of such steps, and
the chain goes on from the wrong number: about 45 % of the training answers are right, and a model that
copies the teacher's habit greedily is right only on chains without a carry (about 16 % of them). SFT learns
the format and copies the flaw; the checker-driven stages (GRPO or RAFT with the answer reward) have that
headroom to win back. Held-out rows carry the true answer.

Every row: ``prompt`` (chat list), ``answer`` (the true final number), and for SFT a ``completion``
(assistant turn). Hub sets (short name → hub id): gsm8k, math, metamath; their worked solutions become
``<think>solution</think>answer`` completions.
"""

from __future__ import annotations

import random

from halo_forge.data.generated import distinct_split, unit as _unit
from halo_forge.data.registry import DatasetSpec
from halo_forge.errors import DataError

TEACHER_CARRY_MISS_RATE = 0.6
HELDOUT_FRACTION = 0.1
OPS = {"add": "+", "subtract": "-"}


def chain_problem(rng: random.Random) -> tuple[int, list[tuple[str, int]]]:
    """A start value and 2–4 (operation, operand) steps whose every intermediate stays in 0..99."""
    start = rng.randint(1, 20)
    steps, value = [], start
    for _ in range(rng.randint(2, 4)):
        op = rng.choice(["add", "subtract"]) if value >= 10 else "add"
        operand = rng.randint(1, 9) if op == "subtract" else rng.randint(1, min(9, 99 - value))
        if op == "subtract":
            operand = min(operand, value)
        steps.append((op, operand))
        value = value + operand if op == "add" else value - operand
    return start, steps


def question(start: int, steps: list[tuple[str, int]]) -> str:
    words = [f"{'add' if op == 'add' else 'subtract'} {n}" for op, n in steps]
    return f"Start at {start}. " + ", then ".join(words).capitalize() + "."


def worked_steps(start: int, steps: list[tuple[str, int]], *, sloppy_key: str | None = None) -> tuple[list[str], int]:
    """The step lines and the final value; with ``sloppy_key`` the teacher's carry slips are applied."""
    lines, value = [], start
    for i, (op, n) in enumerate(steps):
        new = value + n if op == "add" else value - n
        if (sloppy_key is not None and op == "add" and (value % 10) + n >= 10
                and _unit(f"{sloppy_key}:{i}") < TEACHER_CARRY_MISS_RATE):
            new -= 10  # the forgotten carry
        lines.append(f"{value}{OPS[op]}{n}={new}")
        value = new
    return lines, value


def think_answer(lines: list[str], answer) -> str:
    return "<think>" + "\n".join(lines) + f"</think>{answer}"


def chain_row(index: int, seed: int = 0) -> dict:
    rng = random.Random(f"chains:{seed}:{index}")
    start, steps = chain_problem(rng)
    q = question(start, steps)
    _, truth = worked_steps(start, steps)
    lines, taught = worked_steps(start, steps, sloppy_key=f"teacher:{seed}:{q}")
    return {"prompt": [{"role": "user", "content": q}],
            "completion": [{"role": "assistant", "content": think_answer(lines, taught)}],
            "answer": str(truth)}


def chain_split(n: int = 4000, seed: int = 0) -> tuple[list[dict], list[dict]]:
    """(train, held-out): distinct questions; a question is held out by a hash of its text, never trained on."""
    return distinct_split(lambda i: chain_row(i, seed), n, HELDOUT_FRACTION)


def addition_think_row(a: int, b: int, seed: int = 0) -> dict:
    """One easy-level row: the teacher drops the carry on `TEACHER_CARRY_MISS_RATE` of the carry problems (a
    fixed draw per problem), in its worked step and its answer; ``answer`` is the true sum."""
    taught = a + b
    if (a % 10) + (b % 10) >= 10 and _unit(f"teacher:{seed}:{a}+{b}") < TEACHER_CARRY_MISS_RATE:
        taught -= 10
    return {"prompt": _user(f"What is {a}+{b}?"),
            "completion": [{"role": "assistant", "content": think_answer([f"{a}+{b}={taught}"], taught)}],
            "answer": str(a + b)}


def addition_think_split(seed: int = 0) -> tuple[list[dict], list[dict]]:
    """The easy level, `arithmetic_think`: the quickstart's two-digit additions and held-out split, as one
    worked step, ``<think>47+38=75</think>75``, from a one-flaw teacher (a dropped carry, 73 % of its answers
    right; the quickstart's own teacher has other flaws). Held-out rows in a fixed shuffled order."""
    from halo_forge.data.builtin import PAIRS, is_heldout

    train, heldout = [], []
    for a, b in PAIRS:
        (heldout if is_heldout(a, b) else train).append(addition_think_row(a, b, seed))
    heldout.sort(key=lambda r: _unit("order:" + r["prompt"][0]["content"]))
    return train, heldout


BUILTIN_SPLITS = {"arithmetic_chains": chain_split, "arithmetic_think": lambda n, seed: addition_think_split(seed)}


# ------------------------------------------------------------------ hub sets

def _last_boxed(text: str) -> str | None:
    from halo_forge.data.formats import _boxed

    found = _boxed(text)
    return found[-1].strip() if found else None


def _user(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


def _row(prompt: str, reasoning: str, answer: str | None, where: str) -> dict:
    if answer is None or not str(answer).strip():
        raise DataError(f"{where}: no final answer found in the solution",
                        hint="each solution needs a final answer (#### X, \\boxed{X} or 'The answer is: X')")
    completion = think_answer([reasoning.strip()], answer)
    return {"prompt": _user(prompt), "completion": [{"role": "assistant", "content": completion}],
            "answer": str(answer)}


def from_gsm8k(row: dict, where: str) -> dict:
    text = str(row["answer"])
    reasoning, _, answer = text.partition("####")
    return _row(str(row["question"]), reasoning, answer.strip().replace(",", "") or None, where)


def from_math(row: dict, where: str) -> dict:
    solution = str(row["solution"])
    return _row(str(row["problem"]), solution, _last_boxed(solution), where)


def from_metamath(row: dict, where: str) -> dict:
    response = str(row["response"])
    reasoning, sep, answer = response.rpartition("The answer is:")
    return _row(str(row["query"]), reasoning if sep else response, answer.strip() if sep else _last_boxed(response),
                where)


def _detect(row: dict, repo: str):
    for cols, fn in ((("question", "answer"), from_gsm8k), (("problem", "solution"), from_math),
                     (("query", "response"), from_metamath)):
        if all(c in row for c in cols):
            return fn
    raise DataError(f"{repo}: rows have none of the reasoning column pairs (found columns: {sorted(row)})",
                    hint="give question+answer (#### X), problem+solution (\\boxed{X}) or query+response "
                         "('The answer is: X')")


REASONING_DATASETS: dict[str, DatasetSpec] = {s.name: s for s in [
    DatasetSpec("arithmetic_chains", "builtin", "Built-in, offline: chains of 2–4 additions/subtractions with "
                "worked steps in <think>…</think>answer form; sloppy-teacher SFT labels, true held-out answers."),
    DatasetSpec("arithmetic_think", "builtin", "Built-in, offline, the easy level: two-digit additions as one worked "
                "step, <think>47+38=85</think>85; sloppy-teacher SFT labels (73 % right), true held-out answers."),
    DatasetSpec("gsm8k", "openai/gsm8k", "GSM8K grade-school math; worked solution → <think>, #### answer.",
                from_gsm8k, config="main"),
    DatasetSpec("math", "DigitalLearningGmbH/MATH-lighteval", "MATH competition problems; solution → <think>, "
                "last \\boxed{} → answer.", from_math),
    DatasetSpec("metamath", "meta-math/MetaMathQA", "395k augmented math Q/A; response → <think>, 'The answer is:' "
                "→ answer.", from_metamath),
]}


def _local_row(row: dict, where: str) -> dict:
    """A local file's row: ``prompt`` (text or chat list) + ``answer`` (+ ``completion`` for SFT), or one of
    the hub sets' column pairs."""
    if not isinstance(row, dict):
        raise DataError(f"{where}: expected a JSON object per row, got {type(row).__name__}")
    if "prompt" not in row:
        return _detect(row, where.split("[")[0].rsplit(":", 1)[0])(row, where)
    if row.get("answer") is None:
        raise DataError(f"{where}: row has no 'answer' (found fields: {', '.join(sorted(row))})",
                        hint="give every row the final answer its completion must reach")
    from halo_forge.data.formats import _messages

    out = {"prompt": _messages(row["prompt"], where) if isinstance(row["prompt"], list) else _user(str(row["prompt"])),
           "answer": str(row["answer"])}
    if row.get("completion") is not None:
        c = row["completion"]
        out["completion"] = _messages(c, where) if isinstance(c, list) else [{"role": "assistant", "content": str(c)}]
    return out


def load_reasoning_rows(name: str | None = None, *, data=None, seed: int = 0,
                        n: int = 4000) -> tuple[list[dict], list[dict]]:
    """(train, held-out) reasoning rows from a short name, a hub id or a local file (``data``); hub sets
    and files split 90/10 by the seed."""
    from pathlib import Path

    from halo_forge.data import loaders, registry, split_rows

    if data is not None:
        path = Path(data)
        raw, where = loaders.read_local(path), loaders.row_locator(path)
        if not raw:
            raise DataError(f"{path}: the file holds no rows", hint="one JSON object per line: prompt and answer")
        return split_rows([_local_row(r, where(i)) for i, r in enumerate(raw)], HELDOUT_FRACTION, seed)
    spec = registry.get_spec(name or "arithmetic_chains", REASONING_DATASETS, "reasoning")
    if spec is not None and spec.source == "builtin":
        return BUILTIN_SPLITS[spec.name](n, seed)
    repo = spec.source if spec else str(name)
    raw = loaders.load_hub(repo, spec.config if spec else None, spec.split if spec else "train")
    if not raw:
        raise DataError(f"{repo}: the dataset is empty")
    formatter = spec.formatter if spec else _detect(raw[0], repo)
    rows = [formatter(r, f"{repo}[row {i}]") for i, r in enumerate(raw)]
    return split_rows(rows, HELDOUT_FRACTION, seed)


def load_reasoning_data(config):
    """`SplitData` for a reasoning config: its rows (`load_reasoning_rows`; a local file splits by --eval-split),
    --max-samples and --max-eval-samples applied. `--method sft` needs a worked `completion` on every row."""
    from pathlib import Path

    from halo_forge.data import SplitData, loaders, split_rows

    if config.data is not None:
        path = Path(config.data)
        raw, where = loaders.read_local(path), loaders.row_locator(path)
        if not raw:
            raise DataError(f"{path}: the file holds no rows", hint="one JSON object per line: prompt and answer")
        rows = [_local_row(r, where(i)) for i, r in enumerate(raw)]
        train, heldout = split_rows(rows, config.eval_split, config.seed)
        source = str(path)
    else:
        train, heldout = load_reasoning_rows(config.dataset, seed=config.seed)
        rows, where = train + heldout, (lambda i: f"{config.dataset}[row {i}]")
        source = f"builtin:{config.dataset}" if config.dataset in BUILTIN_SPLITS else str(config.dataset)
    if config.method == "sft":
        missing = next((i for i, r in enumerate(rows) if "completion" not in r), None)
        if missing is not None:
            raise DataError(f"{where(missing)}: row has no 'completion': --method sft learns worked solutions",
                            hint="give each row a completion '<think>…</think>answer', or train with --method grpo "
                                 "or raft (they need only prompt and answer)")
    notes = []
    if config.max_samples is not None and len(train) > config.max_samples:
        train = train[: config.max_samples]
        notes.append(f"training on the first {config.max_samples} rows (--max-samples)")
    return SplitData(train=train, heldout=heldout[: config.max_eval_samples], source=source, format="reasoning",
                     notes=notes)
