"""The sandbox contains hostile programs: real code, the real sandbox (bubblewrap where installed)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from halo_forge.verifiers import get_verifier
from halo_forge.verifiers import sandbox as sb
from halo_forge.verifiers.sandbox import Limits, Sandbox, SandboxUnavailable, detect_isolation

ISOLATION = detect_isolation()
needs_sandbox = pytest.mark.skipif(ISOLATION == "none", reason="no sandbox on this machine (install bubblewrap)")
REPO = Path(__file__).resolve().parents[1]
TIMEOUT = 3.0


@pytest.fixture(scope="module")
def listener():
    """A TCP server on the host's 127.0.0.1 that records every connection it accepts."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    srv.settimeout(0.2)
    hits: list[str] = []
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
                hits.append("hit")
                conn.close()
            except OSError:
                pass

    th = threading.Thread(target=serve, daemon=True)
    th.start()
    yield srv.getsockname()[1], hits
    stop.set()
    th.join(2)
    srv.close()


@needs_sandbox
def test_hostile_batch_is_contained(listener, tmp_path, monkeypatch):
    port, hits = listener
    monkeypatch.setenv("HF_FAKE_SECRET", "s3cr3t-7e1f")
    outside_repo = REPO / f".sandbox-escape-{uuid.uuid4().hex}"
    outside_tmp = tmp_path / "escaped.txt"
    host_pid = os.getpid()
    hostile = {
        "fork_bomb": "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n",
        "memory_bomb": "x = []\nwhile True:\n    x.append(bytearray(50 * 2**20))\n",
        "infinite_loop": "while True:\n    pass\n",
        "network": (f"import socket\ns = socket.create_connection(('127.0.0.1', {port}), timeout=2)\n"
                    "print('ok')\n"),
        "write_outside": (f"for p in [{str(outside_repo)!r}, {str(outside_tmp)!r}, '/etc/hf-pwned']:\n"
                          "    try:\n        open(p, 'w').write('pwned')\n    except OSError:\n        pass\n"
                          f"import os\nprint('ok' if os.path.exists({str(outside_repo)!r}) else 'no')\n"),
        "read_secret": ("import os, glob\nfound = os.environ.get('HF_FAKE_SECRET', '')\n"
                        "for f in glob.glob('/proc/*/environ'):\n    try:\n"
                        "        found += open(f, 'rb').read().decode('latin-1')\n    except OSError:\n        pass\n"
                        "print('ok' if 's3cr3t-7e1f' in found else 'no')\n"),
        "kill_parent": (f"import os, signal\nfor pid in (os.getppid(), {host_pid}, 1, -1):\n    try:\n"
                        "        os.kill(pid, signal.SIGKILL)\n    except OSError:\n        pass\nprint('still here')\n"),
        "print_1gb": "import sys\nchunk = 'x' * 2**20\nfor _ in range(1024):\n    sys.stdout.write(chunk)\n",
        "fake_success": "import sys\nprint('PASSED: all tests passed')\nsys.exit(0)\n",
    }
    good = "import sys\nprint(sys.stdin.read().strip() or 'ok')\n"
    v = get_verifier("execution", timeout=TIMEOUT, memory_mb=512, workers=4)
    rows = [{"tests": [{"input": "", "output": "ok"}]} for _ in range(len(hostile) + 2)]
    start = time.monotonic()
    results = v.verify_batch([good] + list(hostile.values()) + [good], rows)
    elapsed = time.monotonic() - start
    # well-behaved neighbours in the same batch are scored normally
    assert results[0].passed and results[-1].passed, (results[0].details, results[-1].details)
    results = results[1:-1]
    for name, r in zip(hostile, results):
        assert r.reward == 0.0 and not r.passed, (name, r.details)
        assert "s3cr3t-7e1f" not in repr(r.details), name
    # batch bound: ≤ 2 rounds of 4 workers, each run ≤ TIMEOUT + its 2 s slack
    assert elapsed < 2 * (TIMEOUT + 2) + 4, elapsed
    assert not hits, "a sandboxed program reached the host's 127.0.0.1"
    assert not outside_repo.exists() and not outside_tmp.exists() and not Path("/etc/hf-pwned").exists()
    # the host is fine: it still forks, and no sandboxed process is left behind
    assert subprocess.run(["true"]).returncode == 0
    by_name = dict(zip(hostile, results))
    assert by_name["print_1gb"].details["first_failure"]["stdout"].startswith("x")  # cut off, not buffered
    leftovers = subprocess.run(["pgrep", "-u", "65534"], capture_output=True, text=True).stdout.split()
    assert not leftovers or ISOLATION == "bwrap"  # under bwrap uid 65534 is only a mapping


@needs_sandbox
def test_output_cap_and_scratch_removed(tmp_path):
    s = Sandbox(Limits(wall_seconds=10, output_bytes=1 << 16), scratch_root=str(tmp_path))
    start = time.monotonic()
    r = s.run(["/bin/sh", "-c", "pwd > where.txt; while :; do echo xxxxxxxxxxxxxxxxxxxxxxxx; done"], collect=["where.txt"])
    assert r.output_truncated and r.returncode is None and len(r.stdout) == 1 << 16
    assert time.monotonic() - start < 5
    assert list(tmp_path.iterdir()) == []  # the scratch directory is gone


@needs_sandbox
def test_env_is_scrubbed_and_limits_apply(monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "hunter2")
    r = Sandbox().run(["/bin/sh", "-c", "env; ulimit -t; ulimit -v; ulimit -f; ulimit -n"],
                      limits=Limits(cpu_seconds=7, memory_mb=300, file_size_mb=2, open_files=32))
    out = r.text()
    assert "hunter2" not in out and "AWS_" not in out
    assert out.split()[-4:] == ["7", str(300 << 10), str(2 << 11), "32"]


def test_refuses_without_sandbox_unless_unsafe(monkeypatch):
    monkeypatch.setitem(sb._ISO, "level", "none")
    with pytest.raises(SandboxUnavailable, match="unsafe-verifier-execution"):
        Sandbox()
    r = Sandbox(unsafe=True).run(["/bin/sh", "-c", "echo hi"])
    assert r.stdout == b"hi\n" and r.isolation == "none (unsafe)"


@pytest.mark.skipif(os.geteuid() != 0 or ISOLATION == "none", reason="the unshare fallback needs root")
def test_unshare_fallback_contains(listener, monkeypatch):
    """Without bubblewrap: own network and PID namespace, scrubbed env, limits; as uid 65534 when it can."""
    port, hits = listener
    monkeypatch.setitem(sb._ISO, "level", "")
    sb._ISO.pop("level")
    monkeypatch.setenv("HALO_FORGE_SANDBOX", "unshare")
    level = detect_isolation()
    sb._ISO.pop("level")
    assert level in ("unshare", "unshare-root")
    monkeypatch.setenv("HF_FAKE_SECRET", "s3cr3t-7e1f")
    s = Sandbox(Limits(wall_seconds=5), isolation=level)
    target = REPO / f".fallback-escape-{uuid.uuid4().hex}"
    prog = (f"import os, socket, signal\n"
            f"try:\n    socket.create_connection(('127.0.0.1', {port}), timeout=1); print('net')\nexcept OSError:\n    pass\n"
            f"try:\n    open({str(target)!r}, 'w'); print('wrote')\nexcept OSError:\n    pass\n"
            "print(os.getuid(), os.getpid(), os.environ.get('HF_FAKE_SECRET'))\nos.kill(-1, signal.SIGKILL)\n")
    r = s.run([sys.executable, "-I", "p.py"], files={"p.py": prog})
    out = r.text()
    try:
        assert "net" not in out and not hits, out
        uid, pid, secret = out.split()[-3:]
        assert pid in ("1", "2", "3") and secret == "None", out
        if level == "unshare":
            assert uid == "65534" and "wrote" not in out and not target.exists()
    finally:
        target.unlink(missing_ok=True)
    assert subprocess.run(["true"]).returncode == 0  # kill(-1) inside stayed inside
