"""``pytest``: the row's pytest tests run against the completion's code, in the sandbox.

Row: ``tests`` (option ``field``): pytest source (a string; it imports from ``solution``, and
``from solution import *`` is added when it does not mention ``solution``), or a list of assert
statements (MBPP style), each becoming one test. The completion's code is written to
``solution.py``. Reward: the fraction of tests that passed, counted by a plugin of the harness and
reported with the verifier's nonce (pytest's exit code and output are not trusted).
"""

from __future__ import annotations

from halo_forge.verifiers._code import SandboxedVerifier, extract_code, new_nonce, python_argv
from halo_forge.verifiers._harness import PYTEST_HARNESS, nonce_lines
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
        nonce = new_nonce()
        res = self.sandbox.run(python_argv() + ["harness.py", "x" if self.stop_first else "-"], stdin=nonce + "\n",
                               files={"solution.py": code, "test_solution.py": test_module(tests),
                                      "harness.py": PYTEST_HARNESS}, limits=self.limits)
        lines = [l for l in nonce_lines(res.stdout, nonce) if l and l[0] == "done" and len(l) == 5]
        base = {"isolation": res.isolation}
        if res.timed_out or res.output_truncated or not lines:
            why = ("timed out" if res.timed_out else "output limit exceeded" if res.output_truncated
                   else f"no result from the harness (exit {res.returncode})")
            return fail(why, stdout=res.text()[-400:], **base)
        _, rc, passed, failed, errors = lines[-1]
        passed, failed, errors = int(passed), int(failed), int(errors)
        total = passed + failed
        if errors and not total:
            return fail("tests could not be collected (import or syntax error)", errors=errors,
                        stdout=res.text()[-600:], **base)
        if total == 0:
            return fail("no tests ran", **base)
        ok = failed == 0 and errors == 0
        return VerifyResult(1.0 if ok else passed / (total + errors), ok, {
            "reason": "all tests passed" if ok else f"{passed}/{total} tests passed" + (f", {errors} errors" if errors else ""),
            "tests_passed": passed, "tests_total": total, "errors": errors,
            **({} if ok else {"stdout": res.text()[-600:]}), **base})
