"""The hostile suite (tests/hostile/, see its README): every class of attack on the verifier sandbox,
real programs through the public verifier API, under every isolation level allowed to run.

Probes print CONTAINED when nothing got through; the host side is checked too (planted root-only
files, sockets and a kernel setting untouched, no process left, limits unchanged). Cheats are wrong
solutions that must earn 0 while a correct neighbour in the same batch earns 1.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import threading
import time
import uuid
from pathlib import Path

import pytest

from halo_forge.verifiers import get_verifier
from halo_forge.verifiers._cgroups import cgroups
from halo_forge.verifiers._runtime import UID_BASE, UID_COUNT
from halo_forge.verifiers.sandbox import Sandbox, detect_isolation

HOSTILE = Path(__file__).resolve().parent / "hostile"
ISOLATION = detect_isolation()
needs_bwrap = pytest.mark.skipif(ISOLATION != "bwrap", reason="bubblewrap sandbox not available here "
                                 "(needs root and bubblewrap; see docs/VERIFIERS.md)")
TIMEOUT = 3.0
SYSCTL = "/proc/sys/kernel/printk_ratelimit_burst"
PYTEST_ROW = {"tests": "import math\nfrom solution import *\n\n"
                       "def test_add():\n    assert add(2, 3) == 5\n    assert math.isclose(add(0.1, 0.2), 0.3)\n"
                       "    assert sorted([add(1, 1), add(0, 1)]) == [1, 2]\n\n"
                       "def test_stack():\n    s = Stack()\n    s.push(1)\n    s.push(2)\n"
                       "    assert s.pop() == 2\n    assert len(s) == 1\n"}
PYTEST_GOOD = ("def add(a, b):\n    return a + b\n\n\nclass Stack:\n    def __init__(self):\n        self.items = []\n\n"
               "    def push(self, x):\n        self.items.append(x)\n\n    def pop(self):\n        return self.items.pop()\n\n"
               "    def __len__(self):\n        return len(self.items)\n")
HE_GOOD = ("def has_close_elements(numbers, threshold):\n"
           "    return any(abs(a - b) < threshold for i, a in enumerate(numbers) for b in numbers[i + 1:])\n")


def src(name: str) -> str:
    return (HOSTILE / name).read_text()


def probe(verifier, runs: list[tuple[str, dict]]) -> dict[str, object]:
    """Run probes through `execution` (expected output CONTAINED); {name: VerifyResult}."""
    rows = [{"tests": [{"input": json.dumps(ctx) + "\n", "output": "CONTAINED"}]} for _, ctx in runs]
    results = verifier.verify_batch([src(name) for name, _ in runs], rows)
    return {f"{name}#{i}": r for i, ((name, _), r) in enumerate(zip(runs, results))}


def assert_contained(results: dict) -> None:
    bad = {name: (r.reason, r.details.get("first_failure")) for name, r in results.items() if not r.passed}
    assert not bad, bad


def sandbox_processes() -> list[int]:
    """Host pids running as a sandbox uid."""
    out = []
    for pid in (p for p in os.listdir("/proc") if p.isdigit()):
        try:
            uid = os.stat(f"/proc/{pid}").st_uid
        except OSError:
            continue
        if UID_BASE <= uid < UID_BASE + UID_COUNT:
            out.append(int(pid))
    return out


def _serve_unix(srv: socket.socket, hits: list, stop: threading.Event) -> None:
    srv.settimeout(0.2)
    while not stop.is_set():
        try:
            conn, _ = srv.accept()
            hits.append(1)
            conn.close()
        except OSError:
            pass


@pytest.fixture(scope="module")
def planted():
    """Root-only files, a world-readable secret, a root-only unix socket in /etc, an abstract socket
    and a TCP listener on the host, each recording any access from the sandbox."""
    tag = uuid.uuid4().hex[:12]
    base = f"/etc/hf-hostile-{tag}"
    files = {f"{base}-0600": 0o600, f"{base}-0640": 0o640, f"{base}.txt": 0o644}
    for path, mode in files.items():
        Path(path).write_text(f"SECRET-{tag}")
        os.chmod(path, mode)
    hits: list = []
    stop = threading.Event()
    servers = []
    for family, addr in ((socket.AF_UNIX, f"{base}.sock"), (socket.AF_UNIX, f"\0hf-hostile-{tag}"),
                         (socket.AF_INET, ("127.0.0.1", 0))):
        srv = socket.socket(family)
        srv.bind(addr)
        if family == socket.AF_UNIX and not addr.startswith("\0"):
            os.chmod(addr, 0o600)
        srv.listen(8)
        servers.append(srv)
        threading.Thread(target=_serve_unix, args=(srv, hits, stop), daemon=True).start()
    before = Path(SYSCTL).read_text()
    yield {"tag": tag, "root_files": [f"{base}-0600", f"{base}-0640"], "secret": f"{base}.txt",
           "socket": f"{base}.sock", "abstract": f"hf-hostile-{tag}", "port": servers[2].getsockname()[1],
           "hits": hits, "sysctl_before": before}
    stop.set()
    for srv in servers:
        srv.close()
    for path in list(files) + [f"{base}.sock"]:
        Path(path).unlink(missing_ok=True)
    assert Path(SYSCTL).read_text() == before


@pytest.fixture
def execution():
    v = get_verifier("execution", timeout=TIMEOUT, memory_mb=256, workers=4)
    v.limits = v.limits.with_(disk_mb=8, disk_files=256, processes=32)
    return v


# ------------------------------------------------------------------ 1. host-root identity
@needs_bwrap
def test_identity_is_an_unprivileged_host_uid(planted, execution):
    ctx = {k: planted[k] for k in ("root_files", "socket", "abstract")}
    ctx.update(sysctl=SYSCTL, sysctl_value=str(int(planted["sysctl_before"]) + 1))
    assert_contained(probe(execution, [("probe_identity.py", ctx)]))
    assert Path(SYSCTL).read_text() == planted["sysctl_before"]
    assert not planted["hits"]
    for path in planted["root_files"]:
        assert Path(path).read_text() == f"SECRET-{planted['tag']}" and stat.S_IMODE(os.stat(path).st_mode) in (0o600, 0o640)


# ------------------------------------------------------------------ 2. reward for wrong code
HE_CHEATS = ["cheat_humaneval_builtins.py", "cheat_humaneval_frames.py", "cheat_humaneval_eq.py",
             "cheat_humaneval_fds.py", "cheat_humaneval_protocol.py", "cheat_humaneval_exits.py",
             "cheat_humaneval_flood.py", "cheat_humaneval_sleep.py", "cheat_humaneval_tests.py",
             "cheat_humaneval_kill.py"]
PYTEST_CHEATS = ["cheat_pytest_internals.py", "cheat_pytest_exceptions.py", "cheat_pytest_eq.py",
                 "cheat_pytest_shadow.py"]
IN_PROCESS_CHEATS = HE_CHEATS[:8]  # only the candidate's own interpreter: safe to run with no isolation


def check_cheats(unsafe: bool, cheats: list[str]) -> None:
    he = get_verifier("humaneval", timeout=TIMEOUT, workers=4, unsafe=unsafe)
    results = he.verify_batch([HE_GOOD] + [src(c) for c in cheats] + [HE_GOOD],
                              [{"task_id": "HumanEval/0"}] * (len(cheats) + 2))
    assert results[0].passed and results[-1].passed, (results[0].details, results[-1].details)
    for name, r in zip(cheats, results[1:-1]):
        assert r.reward == 0.0 and not r.passed, (name, r.details)
        assert "FOUND" not in r.details.get("stderr", ""), (name, r.details["stderr"])
    py = get_verifier("pytest", timeout=TIMEOUT, workers=4, unsafe=unsafe)
    results = py.verify_batch([PYTEST_GOOD] + [src(c) for c in PYTEST_CHEATS], [PYTEST_ROW] * (1 + len(PYTEST_CHEATS)))
    assert results[0].passed, results[0].details
    for name, r in zip(PYTEST_CHEATS, results[1:]):
        assert r.reward == 0.0 and not r.passed, (name, r.details)
    assert he.verify(HE_GOOD, {"task_id": "HumanEval/0"}).passed  # the judges survived all of it


@needs_bwrap
def test_wrong_code_earns_nothing_whatever_it_does(planted):
    check_cheats(unsafe=False, cheats=HE_CHEATS)
    assert not Path("/tmp/conftest.py").exists() or "item.runtest" not in Path("/tmp/conftest.py").read_text()


def test_verdict_stays_with_the_judge_without_isolation(tmp_path):
    """Unsafe mode (no isolation): in-process tricks still cannot reach the judge's verdict."""
    check_cheats(unsafe=True, cheats=IN_PROCESS_CHEATS)


@needs_bwrap
def test_classic_hostile_programs_score_zero_and_neighbours_pass(planted, monkeypatch):
    monkeypatch.setenv("HF_FAKE_SECRET", "s3cr3t-" + planted["tag"])
    modes = ["fake_verdict", "fork_bomb", "memory_bomb", "spin", "gigabyte", "env_secret", "network", "kill_parent"]
    ctx = {"secret": "s3cr3t-" + planted["tag"], "port": planted["port"], "host_pid": os.getpid()}
    v = get_verifier("execution", timeout=TIMEOUT, memory_mb=256, workers=4)
    good = "import sys\nsys.stdin.readline()\nprint('ok')\n"
    rows = [{"tests": [{"input": json.dumps({**ctx, "mode": m}) + "\n", "output": "ok"}]} for m in ["good"] + modes + ["good"]]
    start = time.monotonic()
    results = v.verify_batch([good] + [src("cheat_exec_classics.py")] * len(modes) + [good], rows)
    elapsed = time.monotonic() - start
    assert results[0].passed and results[-1].passed, (results[0].details, results[-1].details)
    for mode, r in zip(modes, results[1:-1]):
        assert r.reward == 0.0, (mode, r.details)
        assert ctx["secret"] not in repr(r.details), mode
    assert elapsed < 2 * (TIMEOUT + 3) + 4, elapsed
    assert not planted["hits"]
    assert dict(zip(modes, results[1:-1]))["gigabyte"].details["first_failure"]["stdout"].startswith("x")


# ------------------------------------------------------------------ 3. scratch and disk
@needs_bwrap
def test_disk_quota_and_cleanup_that_cannot_fail(execution):
    lim = execution.limits
    results = probe(execution, [("probe_disk_bytes.py", {"quota_bytes": lim.disk_mb << 20}),
                                ("probe_disk_files.py", {"quota_files": lim.disk_files})])
    results.update(probe(get_verifier("execution", timeout=TIMEOUT), [("probe_deep_tree.py", {})]))
    assert_contained(results)
    assert not any("verifier error" in r.reason for r in results.values())


# ------------------------------------------------------------------ 4. links out of the scratch area
def check_links(sandbox: Sandbox, secret: str) -> None:
    collect = ["res/real.txt", "res/a.txt", "res/fifo.txt", "res/env.txt", "res/hard.txt",
               "up/" + os.path.basename(secret)]
    r = sandbox.run(sandbox.python_argv + ["probe.py"], files={"probe.py": src("probe_links.py")},
                    stdin=json.dumps({"secret": secret}), collect=collect)
    assert r.text().strip() == "CONTAINED", (r.stdout, r.stderr, r.error)
    assert r.files == {"res/real.txt": b"fine"}
    assert "SECRET" not in repr(r)


@needs_bwrap
def test_results_never_follow_links(planted, execution):
    check_links(Sandbox(), planted["secret"])
    if __import__("shutil").which("gcc"):
        c = "```c\n" + src("probe_links.c") + "```"
        case = {"input": planted["secret"] + "\n", "output": "CONTAINED"}
        r = get_verifier("execution", timeout=TIMEOUT).verify(c, {"tests": [case, case]})
        assert r.reward <= 0.5 and "SECRET" not in repr(r.details), r.details


# ------------------------------------------------------------------ 5. other samples, limits, lifetime
@needs_bwrap
def test_no_sample_outlives_or_raises_its_limits(execution):
    tag = "hfo" + uuid.uuid4().hex[:10]
    assert_contained(probe(execution, [("probe_outlive.py", {"tag": tag}), ("probe_limits.py", {})]))
    for _ in range(3):
        alive = [p for p in os.listdir("/proc") if p.isdigit() and _comm(p) == tag[:15]]
        assert not alive, f"processes {alive} outlived their sample"
        time.sleep(0.2)
    ceiling = {"pids.max": 64 + 3, "memory.limit_in_bytes": (1024 + 96) << 20, "cpu.cfs_quota_us": 100_000}
    for base in cgroups().roots.values():  # only values the host writes, never the probe's "max"/-1
        for path in base.glob("slot*/*"):
            if path.name in ceiling:
                assert 0 < int(path.read_text()) <= ceiling[path.name], (path, path.read_text())
    assert not sandbox_processes()


def _comm(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


@needs_bwrap
def test_samples_cannot_starve_see_or_change_each_other(execution):
    tag = "hf" + uuid.uuid4().hex[:10]
    good = "import sys\nsys.stdin.readline()\nprint('CONTAINED')\n"
    rows = [{"tests": [{"input": json.dumps({"tag": tag}) + "\n", "output": "CONTAINED"}]}] * 8
    progs = [src("probe_starve.py"), good, src("probe_mark.py"), src("probe_seek.py"), src("probe_tamper.py"),
             src("probe_mark.py"), src("probe_seek.py"), good]
    results = execution.verify_batch(progs, rows)  # concurrently, on four slots
    assert results[0].reward == 0.0
    assert all(r.passed for r in results[1:]), [r.details for r in results[1:] if not r.passed]
    one = get_verifier("execution", timeout=TIMEOUT, workers=1)  # one after the other, on one slot
    assert_contained(probe(one, [("probe_mark.py", {"tag": tag}), ("probe_seek.py", {"tag": tag})]))
    assert not sandbox_processes()
