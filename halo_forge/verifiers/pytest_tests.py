"""``pytest``: the row's pytest tests run against the completion's code.

Row: ``tests`` (option ``field``): pytest source (a string; it imports from ``solution``, and
``from solution import *`` is added when it does not mention ``solution``), or a list of assert
statements (MBPP style), each becoming one test.

The completion's code runs in the sandbox as the module ``solution`` behind a function server; the
tests run in a judge process outside it (``_judging.py``), where ``solution`` is a module whose
functions, classes and values are fetched from the sandbox. Values come back as plain data and are
compared by the tests, in the judge; objects the candidate made stay in the sandbox as handles
(``==`` is identity; no ordering). Reward: passed / collected tests, counted by a plugin in the judge.
"""

from __future__ import annotations

from halo_forge.verifiers._code import SandboxedVerifier, extract_code
from halo_forge.verifiers._judging import run_judged
from halo_forge.verifiers.base import Verifier, VerifyResult, fail, register_verifier


def test_module(tests: str | list) -> str:
    if isinstance(tests, list):
        body = "".join(f"def test_{i}():\n    {str(t).strip()}\n\n\n" for i, t in enumerate(tests))
        return "from solution import *  # noqa\n\n\n" + body
    src = str(tests)
    return src if "solution" in src else "from solution import *  # noqa\n\n" + src


@register_verifier("pytest")
class PytestVerifier(SandboxedVerifier, Verifier):
    """Runs the row's pytest tests (source, or a list of asserts) against the completion's code."""

    requires = ("tests",)
    runs_code = True

    def __init__(self, *, field: str = "tests", timeout: float = 20.0, memory_mb: int = 1024,
                 stop_first: bool = False, workers: int | None = None, unsafe: bool = False) -> None:
        self.field, self.stop_first = field, bool(stop_first)
        self._setup_sandbox(timeout=timeout, memory_mb=memory_mb, workers=workers, unsafe=unsafe)

    def required_fields(self) -> tuple[str, ...]:
        return (self.field,)

    def verify(self, completion: str, row: dict) -> VerifyResult:
        tests = row.get(self.field)
        if not tests:
            return fail(f"row field {self.field!r} holds no tests")
        code, _ = extract_code(completion, "python")
        if not code.strip():
            return fail("no code in the completion", stage="no_code")
        check = {"kind": "pytest", "tests": test_module(tests), "stop_first": self.stop_first}
        verdict, res = run_judged(self.sandbox, {"solution.py": code.encode()}, "solution.py", check, self.limits)
        base = {"isolation": res.isolation if res else self.sandbox.isolation,
                **({"sandbox_error": res.error} if res and res.error else {})}
        counts = [verdict.get(k) for k in ("collected", "passed", "failed", "errors")]
        if not all(type(c) is int for c in counts):
            return fail(str(verdict.get("reason") or "no result from the judge"), **base)
        collected, passed, failed, errors = counts
        broken = verdict.get("reason")
        if collected == 0:
            why = broken or ("tests could not be collected (syntax error or failing import)" if errors else "no tests ran")
            return fail(str(why), errors=errors, stderr=res.text("stderr")[-400:] if res else "", **base)
        ok = passed == collected and not failed and not errors and not broken
        summary = f"{passed}/{collected} tests passed" + (f", {errors} errors" if errors else "")
        return VerifyResult(1.0 if ok else min(passed, collected) / collected, ok, {
            "reason": "all tests passed" if ok else summary + (f"; {broken}" if broken else ""),
            "tests_passed": passed, "tests_total": collected, "errors": errors, **base})
