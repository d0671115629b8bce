"""``execution``: run the completion's program on stdin/stdout test cases, in the sandbox.

Row: ``tests`` (option ``field``) = ``[{"input": "...", "output": "..."}, ...]`` (``match`` per test
overrides the mode); optional ``language`` (python, c, cpp). Each Python case is its own sandboxed
sample (stdout through the bounded capture); C/C++ compile and run every case in one sample, each
case's output written to a file there and read back without following links. Outputs are compared
*here*, by the verifier; exit codes and anything the program prints about itself count for nothing.
"""

from __future__ import annotations

import math
import re
import shutil
from typing import Any

from halo_forge.verifiers._code import SandboxedVerifier, extract_code
from halo_forge.verifiers.base import Verifier, VerifyResult, fail, register_verifier

MATCH_MODES = ("exact", "contains", "regex", "numeric")
_NUM = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?(?:inf|nan)\b", re.I)

_RUNNER = r"""n=$1; t=$2; shift 2
mkdir -p out
if [ -f compile.sh ]; then
  sh compile.sh > out/compile.txt 2>&1; echo $? > out/compile.rc
  read c < out/compile.rc; [ "$c" = 0 ] || exit 0
fi
i=0
while [ "$i" -lt "$n" ]; do
  if [ "$n" = 1 ]; then  # one case: the sandbox's own wall-clock limit is its timeout (one process fewer)
    "$@" < "in/$i" > "out/$i" 2> "out/$i.err"; r=$?
  else
    timeout -s KILL "$t" "$@" < "in/$i" > "out/$i" 2> "out/$i.err"; r=$?
  fi
  echo $r > "out/$i.rc"
  [ "$r" = 137 ] && break  # killed (timeout or memory): the remaining cases would only burn time
  i=$((i+1))
done
"""
COMPILERS = {"c": ("gcc", "prog.c", "gcc -O2 -std=gnu11 -o prog prog.c -lm"),
             "cpp": ("g++", "prog.cpp", "g++ -O2 -std=gnu++17 -o prog prog.cpp")}


def _norm_lines(s: str) -> str:
    return "\n".join(line.rstrip() for line in s.replace("\r\n", "\n").strip("\n").split("\n")).strip()


def output_matches(got: str, expected: str, mode: str, tolerance: float = 1e-6) -> bool:
    if mode == "exact":
        return _norm_lines(got) == _norm_lines(expected)
    if mode == "contains":
        return _norm_lines(expected) in _norm_lines(got)
    if mode == "regex":
        return re.fullmatch(expected, got.strip(), re.S) is not None
    if mode == "numeric":
        g, e = _NUM.findall(got), _NUM.findall(expected)
        if not e or len(g) != len(e):
            return False
        return all(math.isclose(float(a), float(b), rel_tol=tolerance, abs_tol=tolerance) for a, b in zip(g, e))
    raise ValueError(f"unknown match mode {mode!r}; use one of {', '.join(MATCH_MODES)}")


@register_verifier("execution")
class ExecutionVerifier(SandboxedVerifier, Verifier):
    """Runs the program (Python; C/C++ where gcc/g++ exist) on the row's stdin/stdout tests in the sandbox."""

    requires = ("tests",)
    runs_code = True

    def __init__(self, *, field: str = "tests", match: str = "exact", language: str = "auto",
                 tolerance: float = 1e-6, timeout: float = 5.0, compile_timeout: float = 30.0,
                 memory_mb: int = 1024, compile_credit: float = 0.0, run_credit: float = 0.0,
                 workers: int | None = None, unsafe: bool = False) -> None:
        if match not in MATCH_MODES:
            raise ValueError(f"match must be one of {', '.join(MATCH_MODES)}")
        if language not in ("auto", "python", "c", "cpp"):
            raise ValueError("language must be auto, python, c or cpp")
        if not (0 <= compile_credit and 0 <= run_credit and compile_credit + run_credit < 1):
            raise ValueError("compile_credit and run_credit must be >= 0 and sum to < 1")
        self.field, self.match, self.language, self.tolerance = field, match, language, float(tolerance)
        self.compile_timeout = float(compile_timeout)
        self.compile_credit, self.run_credit = float(compile_credit), float(run_credit)
        self._setup_sandbox(timeout=timeout, memory_mb=memory_mb, workers=workers, unsafe=unsafe)

    def required_fields(self) -> tuple[str, ...]:
        return (self.field,)

    def _language(self, fence: str | None, row: dict) -> str:
        lang = str(row.get("language") or "").lower() or (self.language if self.language != "auto" else "")
        lang = {"py": "python", "python3": "python", "c++": "cpp", "cxx": "cpp"}.get(lang, lang)
        return lang or (fence if fence in ("python", "c", "cpp") else "python")

    def verify(self, completion: str, row: dict) -> VerifyResult:
        tests = row.get(self.field)
        if isinstance(tests, dict):
            tests = [tests]
        if not isinstance(tests, list) or not tests or not all(isinstance(t, dict) and "output" in t for t in tests):
            return fail(f"row field {self.field!r} holds no test cases ([{{'input': ..., 'output': ...}}])")
        code, fence = extract_code(completion, None if self.language == "auto" else self.language)
        lang = self._language(fence, row)
        if not code.strip():
            return fail("no code in the completion", stage="no_code", language=lang)
        base = {"language": lang, "isolation": self.sandbox.isolation, "tests_total": len(tests)}
        if lang == "python":
            outcomes = self._python_outcomes(code, tests)
            if outcomes and outcomes[0]["rc"] == 1 and not any(o["ok"] for o in outcomes) and re.search(
                    r"^(SyntaxError|IndentationError|TabError)\b", outcomes[0]["err"], re.M):
                return fail("syntax error", stage="compile_error", compiler_output=outcomes[0]["err"][-400:], **base)
        else:
            tool = COMPILERS[lang][0]
            if shutil.which(tool) is None:
                return fail(f"{lang} needs {tool}, which is not installed here", stage="no_compiler", language=lang)
            outcomes = self._compiled_outcomes(code, tests, lang)
            if isinstance(outcomes, VerifyResult):
                outcomes.details.update(base)
                return outcomes
        return self._score(outcomes, len(tests), base)

    def _python_outcomes(self, code: str, tests: list[dict]) -> list[dict[str, Any]]:
        """Each case is its own sample, run by the sandbox's warm interpreter (no start-up per case):
        stdin through a pipe, stdout through the bounded capture. Stops after a case that was killed."""
        outcomes = []
        for t in tests:
            expected = str(t["output"])
            lim = self.limits.with_(wall_seconds=self.timeout,
                                    output_bytes=max(self.limits.output_bytes, 2 * len(expected) + 65536))
            res = self.sandbox.run(self.sandbox.python_argv + ["prog.py"], files={"prog.py": code},
                                   stdin=str(t.get("input", "")), limits=lim)
            outcomes.append(self._outcome(res.returncode, res.text(), res.text("stderr"), t,
                                          res.timed_out, res.output_truncated, res.error))
            if res.returncode is None:
                break
        return outcomes

    def _compiled_outcomes(self, code: str, tests: list[dict], lang: str) -> list[dict[str, Any]] | VerifyResult:
        """C/C++: one sample compiles, then runs every case under ``timeout``; outputs come back as
        files read without following links."""
        _tool, src, cmd = COMPILERS[lang]
        files: dict[str, str] = {"run.sh": _RUNNER, src: code, "compile.sh": cmd}
        for i, t in enumerate(tests):
            files[f"in/{i}"] = str(t.get("input", ""))
        collect = ["out/compile.rc", "out/compile.txt"]
        for i in range(len(tests)):
            collect += [f"out/{i}", f"out/{i}.rc", f"out/{i}.err"]
        lim = self.limits.with_(wall_seconds=self.timeout * len(tests) + 2.0 + self.compile_timeout,
                                cpu_seconds=int(max(self.timeout, self.compile_timeout) + 1))
        res = self.sandbox.run(["/bin/sh", "run.sh", str(len(tests)), f"{self.timeout:g}", "./prog"],
                               files=files, collect=collect, limits=lim)
        f = res.files
        if f.get("out/compile.rc", b"").strip() != b"0":
            msg = f.get("out/compile.txt", b"").decode("utf-8", "replace")[-400:]
            return fail("compile error" if "out/compile.rc" in f else "compile step did not finish",
                        stage="compile_error", compiler_output=msg, timed_out=res.timed_out,
                        **({"sandbox_error": res.error} if res.error else {}))
        outcomes = []
        for i, t in enumerate(tests):
            if f"out/{i}.rc" not in f:
                break
            rc = f[f"out/{i}.rc"].strip()
            outcomes.append(self._outcome(int(rc) if rc.lstrip(b"-").isdigit() else None,
                                          f.get(f"out/{i}", b"").decode("utf-8", "replace"),
                                          f.get(f"out/{i}.err", b"").decode("utf-8", "replace"), t,
                                          False, False))
        return outcomes

    def _outcome(self, rc: int | None, out: str, err: str, test: dict, timed_out: bool, truncated: bool,
                 sandbox_error: str | None = None) -> dict:
        # correct output is necessary and a clean exit too (a crash or timeout after it is a failure);
        # the exit status alone never passes anything
        ok = rc == 0 and output_matches(out, str(test["output"]), test.get("match", self.match), self.tolerance)
        return {"rc": rc, "ok": ok, "out": out[:200], "err": err[-300:], "timed_out": timed_out, "truncated": truncated,
                "sandbox_error": sandbox_error}

    def _score(self, outcomes: list[dict], n: int, base: dict) -> VerifyResult:
        passed = sum(o["ok"] for o in outcomes)
        ran = any(o["rc"] == 0 for o in outcomes)
        reward = self.compile_credit + (self.run_credit if ran else 0.0) + (
            1 - self.compile_credit - self.run_credit) * passed / n
        if passed == n:
            return VerifyResult(1.0, True, {"reason": "all tests passed", "stage": "passed", "tests_passed": passed, **base})
        first = next((i for i, o in enumerate(outcomes) if not o["ok"]), len(outcomes))
        o = outcomes[first] if first < len(outcomes) else {"rc": None, "out": "", "err": "", "timed_out": False,
                                                            "truncated": False, "missing": True}
        if o.get("sandbox_error") and not o["timed_out"]:
            why = f"test {first}: the sandbox failed ({o['sandbox_error']})"
        elif o.get("missing"):
            why = f"test {first} did not run (time ran out, or an earlier case was killed)"
        elif o["timed_out"]:
            why = "timed out"
        elif o["truncated"]:
            why = "output limit exceeded"
        elif o["rc"] in (124, 137) or o["rc"] is None:
            why = f"test {first} timed out or was killed"
        elif o["rc"] != 0:
            why = f"test {first} crashed (exit {o['rc']})"
        else:
            why = f"test {first}: wrong output"
        return VerifyResult(min(1.0, reward), False, {
            "reason": f"{passed}/{n} tests passed; {why}", "stage": "wrong_answer" if ran else "runtime_error",
            "tests_passed": passed, "first_failure": {"test": first, "exit": o["rc"], "stdout": o["out"],
                                                       "stderr": o["err"]}, **base})
