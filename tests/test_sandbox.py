"""The sandbox's own mechanisms (real processes, the real sandbox); the attacks live in test_hostile.py.

Also backs the rows of docs/VERIFIERS.md's isolation table that test_hostile.py does not: what the
unsafe mode still guarantees, and the refusal when no sandbox keeps samples apart.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from halo_forge.errors import SandboxUnavailable
from halo_forge.verifiers import _fsutil, _seccomp, _wire
from halo_forge.verifiers import sandbox as sb
from halo_forge.verifiers.sandbox import Limits, Sandbox, detect_isolation

ISOLATION = detect_isolation()
needs_bwrap = pytest.mark.skipif(ISOLATION != "bwrap", reason="bubblewrap sandbox not available here")
HOSTILE = Path(__file__).resolve().parent / "hostile"
DOCS = Path(__file__).resolve().parents[1] / "docs" / "VERIFIERS.md"


@pytest.fixture
def shm_path():
    """A folder on tmpfs: a 3,000-deep tree costs ~5 ms a folder to remove on this machine's disk."""
    import shutil
    import tempfile

    base = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
    path = Path(tempfile.mkdtemp(prefix="hf-test-", dir=base))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def unsafe(shm_path):
    return Sandbox(isolation="none", unsafe=True, scratch_root=str(shm_path))


# ------------------------------------------------------------------ pieces
def test_wire_decodes_plain_values_only():
    values = [None, True, 3, -2.5, float("inf"), "é", [1, (2, 3)], {(1, 2): {"a": frozenset({1})}}, {1, 2},
              b"\x00\xff", bytearray(b"x"), 1 + 2j, range(1, 9, 2)]
    for v in values:
        assert _wire.loads(_wire.dumps(_wire.encode(v))) == v
    assert type(_wire.loads(_wire.dumps(_wire.encode(True)))) is bool
    for bad in ('{"X": 1}', '{"T": 1}', '{"D": [[[1], 2]]}', '{"H": [1, "x"]}', '{"a": 1, "b": 2}', "[" * 100_000,
                '"' + "1" * 10 + '"x', "1" * 5000):
        with pytest.raises(_wire.WireError):
            _wire.loads(bad)

    class Sneaky(int):
        def __eq__(self, other):
            return True

    assert type(_wire.loads(_wire.dumps(_wire.encode(Sneaky(7))))) is int  # subclasses arrive as the base


def test_remove_tree_cannot_fail(shm_path):
    """A real process builds a tree shutil.rmtree cannot remove (too deep, chmod 000, a FIFO, links)."""
    root = shm_path / "scratch"
    root.mkdir()
    subprocess.run(["python3", str(HOSTILE / "probe_deep_tree.py")], cwd=root, check=True, capture_output=True)
    with pytest.raises(RecursionError):
        __import__("shutil").rmtree(root)
    _fsutil.remove_tree(str(root))
    assert not root.exists()


def test_read_beneath_never_follows_links(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("SECRET")
    top = tmp_path / "top"
    (top / "res").mkdir(parents=True)
    (top / "res" / "ok.txt").write_text("fine")
    (top / "res" / "link.txt").symlink_to(secret)
    (top / "up").symlink_to(tmp_path)
    os.mkfifo(top / "res" / "fifo")
    fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
    try:
        got = {p: _fsutil.read_beneath(fd, p, 1 << 20) for p in ("res/ok.txt", "res/link.txt", "up/secret.txt",
                                                                 "res/fifo", "res", "missing")}
    finally:
        os.close(fd)
    assert got == {"res/ok.txt": b"fine", "res/link.txt": None, "up/secret.txt": None, "res/fifo": None,
                   "res": None, "missing": None}
    with pytest.raises(ValueError):
        _fsutil.read_beneath(0, "../x", 1)


def test_seccomp_program_is_well_formed():
    for machine in _seccomp.ARCHES:
        prog = _seccomp.program(machine)
        assert prog and len(prog) % 8 == 0 and len(prog) // 8 < 64
    assert _seccomp.program("sparc") is None


# ------------------------------------------------------------------ bwrap: limits, output, time, environment
@needs_bwrap
def test_environment_scrubbed_and_limits_applied(monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "hunter2")
    r = Sandbox().run(["/bin/sh", "-c", "env; id -u; pwd; cat /proc/self/limits"],
                      limits=Limits(cpu_seconds=7, memory_mb=300, file_size_mb=2, open_files=32, processes=20))
    out = r.text()
    assert "hunter2" not in out and "AWS_" not in out
    lines = out.splitlines()
    assert int(lines[lines.index(sb.SANDBOX_DIR) - 1]) >= sb.UID_BASE
    limits = {" ".join(line.split()[:-3]): line.split()[-3:-1] for line in lines if line.startswith("Max ")}
    assert limits["Max cpu time"] == ["7", "7"] and limits["Max address space"] == [str(300 << 20)] * 2
    assert limits["Max file size"] == [str(2 << 20)] * 2 and limits["Max open files"] == ["32", "32"]
    assert limits["Max processes"] == ["20", "20"] and limits["Max core file size"] == ["0", "0"]


@needs_bwrap
def test_output_cap_and_wall_clock_kill_the_whole_tree():
    s = Sandbox(Limits(wall_seconds=10, output_bytes=1 << 16))
    start = time.monotonic()
    r = s.run(["/bin/sh", "-c", "while :; do echo xxxxxxxxxxxxxxxxxxxxxxxx; done"])
    assert r.output_truncated and r.returncode is None and len(r.stdout) == 1 << 16
    r = s.run(["/bin/sh", "-c", "sleep 30 & sleep 30 & echo started; wait"], limits=Limits(wall_seconds=1))
    assert r.timed_out and r.returncode is None and r.stdout == b"started\n"
    assert time.monotonic() - start < 6
    assert r.error is None


@needs_bwrap
def test_python_runs_warm_with_the_standard_library_only():
    s = Sandbox()
    prog = ("import sys, os\nprint(sys.argv[1:], sys.stdin.read(), os.getcwd())\nprint(len(os.listdir('/proc/self/fd')))\n"
            "try:\n    import pytest\nexcept ImportError:\n    print('no site-packages')\n"
            "import json, hashlib, sqlite3, subprocess, threading\n"
            "t = threading.Thread(target=print, args=('thread',))\nt.start()\nt.join()\n"
            "print(subprocess.run(['echo', 'child'], capture_output=True, text=True).stdout.strip())\n"
            "raise SystemExit(4)\n")
    r = s.run(s.python_argv + ["p.py", "a", "b"], files={"p.py": prog}, stdin="in")
    assert r.returncode == 4
    # descriptors 0-2 and the listing's own: nothing of the fork server's reaches the program
    assert r.text().splitlines() == [f"['a', 'b'] in {sb.SANDBOX_DIR}", "4", "no site-packages", "thread", "child"]
    r = s.run(s.python_argv + ["p.py"], files={"p.py": "def f(:\n"})
    assert r.returncode == 1 and "SyntaxError" in r.text("stderr") and "_funcserver" not in r.text("stderr")


# ------------------------------------------------------------------ the unsafe row of the table
def test_refuses_without_sandbox_unless_unsafe(monkeypatch, tmp_path):
    monkeypatch.setitem(sb._ISO, "level", "none")
    monkeypatch.setitem(sb._ISO, "reason", "bubblewrap (bwrap) is not installed")
    with pytest.raises(SandboxUnavailable) as err:
        Sandbox()
    assert "bubblewrap (bwrap) is not installed" in str(err.value)
    assert "unsafe-verifier-execution" in str(err.value) and "apt-get install -y bubblewrap" in str(err.value)
    r = Sandbox(unsafe=True, scratch_root=str(tmp_path)).run(["/bin/sh", "-c", "echo hi"])
    assert r.stdout == b"hi\n" and r.isolation == "none (unsafe)"


def test_unsafe_still_limits_times_caps_and_scrubs(unsafe, monkeypatch):
    monkeypatch.setenv("HF_FAKE_SECRET", "s3cr3t")
    r = unsafe.run(["/bin/sh", "-c", "env; ulimit -t; ulimit -f"], limits=Limits(cpu_seconds=5, file_size_mb=1))
    assert "s3cr3t" not in r.text() and r.text().split()[-2:] == ["5", str(1 << 11)]
    r = unsafe.run(["/bin/sh", "-c", "yes"], limits=Limits(output_bytes=4096))
    assert r.output_truncated and len(r.stdout) == 4096
    r = unsafe.run(["/bin/sh", "-c", "sleep 30"], limits=Limits(wall_seconds=0.5))
    assert r.timed_out and r.returncode is None


def test_unsafe_cleanup_cannot_fail_and_links_are_not_followed(unsafe, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("SECRET")
    r = unsafe.run(unsafe.python_argv + ["p.py"], files={"p.py": (HOSTILE / "probe_deep_tree.py").read_text()})
    assert r.text().strip() == "CONTAINED" and r.error is None, (r.stderr, r.error)
    r = unsafe.run(unsafe.python_argv + ["p.py"], files={"p.py": (HOSTILE / "probe_links.py").read_text()},
                   stdin=json.dumps({"secret": str(secret)}),
                   collect=["res/real.txt", "res/a.txt", "res/fifo.txt", "res/hard.txt", "up/secret.txt"])
    assert r.files == {"res/real.txt": b"fine"} and "SECRET" not in repr(r)
    assert os.listdir(unsafe._pool.scratch_root) == []  # every sample's folder removed, the deep one included


def test_unsafe_no_process_outlives_its_sample(unsafe):
    tag = f"hfu{os.getpid()}"
    prog = ("import ctypes, os, time\nif os.fork() == 0:\n    os.setsid()\n"
            f"    ctypes.CDLL(None).prctl(15, b'{tag}', 0, 0, 0)\n    time.sleep(20)\n    os._exit(0)\nprint('left')\n")
    r = unsafe.run(unsafe.python_argv + ["p.py"], files={"p.py": prog})
    assert r.text() == "left\n"
    left = [p for p in os.listdir("/proc") if p.isdigit() and _comm(p) == tag]
    assert not left or sb.cgroups().pids_ok is False, left


def _comm(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


# ------------------------------------------------------------------ the docs' table is backed by tests
def test_every_isolation_table_row_names_existing_tests():
    table = DOCS.read_text().split("<!-- isolation-table -->")[1].split("<!-- /isolation-table -->")[0]
    rows = [line for line in table.strip().splitlines()[2:] if line.startswith("|")]
    here = Path(__file__).resolve().parent
    defined = {line.split("(")[0][4:] for f in here.glob("test_*.py") for line in f.read_text().splitlines()
               if line.startswith("def test_")}
    assert len(rows) >= 10
    for row in rows:
        named = {w.strip("`,") for w in row.split("|")[-2].split()}
        assert named and named <= defined, (row[:60], named - defined)
