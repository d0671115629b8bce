"""Source of the in-sandbox harnesses. They read a nonce from stdin (a pipe: gone once read) before any
model-written code runs, and print ``<nonce> <result>`` only after the verifier's own checks finish;
an early exit, a crash or a printed "PASSED" leaves no nonce line, so it earns nothing."""

CHECK_HARNESS = r'''
import sys
def _hf_main():
    nonce = sys.stdin.readline().strip()
    sys.stdin.close()
    entry = sys.argv[1]
    src = open("solution.py", encoding="utf-8").read()
    test = open("check.py", encoding="utf-8").read()
    out = sys.stdout
    g = {"__name__": "__hf_solution__", "__builtins__": __builtins__}
    try:
        exec(compile(src, "solution.py", "exec"), g)
        exec(compile(test, "check.py", "exec"), g)
        fn = g[entry]
        g["check"](fn)
    except BaseException as exc:  # SystemExit and KeyboardInterrupt included: they are failures
        try:
            out.write("\n" + nonce + " fail " + type(exc).__name__ + "\n")
            out.flush()
        except BaseException:
            pass
        return
    out.write("\n" + nonce + " ok\n")
    out.flush()
_hf_main()
'''

PYTEST_HARNESS = r'''
import sys
def _hf_main():
    nonce = sys.stdin.readline().strip()
    sys.stdin.close()
    import pytest
    counts = {"passed": 0, "failed": 0, "error": 0}
    class _Collect:
        def pytest_runtest_logreport(self, report):
            if report.when == "call":
                counts["passed" if report.passed else "failed"] += 1
            elif report.failed:
                counts["error"] += 1
        def pytest_collectreport(self, report):
            if report.failed:
                counts["error"] += 1
    out = sys.stdout
    try:
        rc = pytest.main(["-q", "-p", "no:cacheprovider", "-p", "no:randomly", "-x" if sys.argv[1] == "x" else "-q",
                          "--rootdir", ".", "test_solution.py"], plugins=[_Collect()])
    except BaseException as exc:
        out.write("\n" + nonce + " crash " + type(exc).__name__ + "\n")
        return
    out.write("\n%s done %d %d %d %d\n" % (nonce, int(rc), counts["passed"], counts["failed"], counts["error"]))
    out.flush()
_hf_main()
'''


def nonce_lines(stdout: bytes, nonce: str) -> list[list[str]]:
    """The harness's result lines (fields after the nonce), in order."""
    out = []
    for line in stdout.decode("utf-8", "replace").splitlines():
        if line.startswith(nonce + " "):
            out.append(line[len(nonce) + 1:].split())
    return out
