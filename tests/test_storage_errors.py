"""A full disk, a read-only file system: one `Error:` line naming the path and the fix, exit 2, the
staging folder removed and the run indexed as failed. Real mounts (we are root in CI): a 1 MiB tmpfs
that the model cannot fit in, and a read-only bind mount."""

from __future__ import annotations

import os
import subprocess

import pytest

from halo_forge.cli.main import main

TRAIN = ["sft", "train", "--dataset", "arithmetic", "--max-samples", "64", "--model", "halo-forge/tiny", "--no-lora", "--max-steps", "1",
         "--batch-size", "8", "--max-eval-samples", "4", "--eval-max-new-tokens", "4", "--seed", "4"]


def mount(*args: str) -> None:
    done = subprocess.run(["mount", *args], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount here ({done.stderr.strip()}): needs root")


@pytest.fixture()
def mounts(tmp_path, monkeypatch):
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    monkeypatch.setenv("HALO_FORGE_WORKSPACE", str(tmp_path / "ws"))
    monkeypatch.chdir(tmp_path)
    full, src, ro = tmp_path / "full", tmp_path / "ro-src", tmp_path / "ro"
    for d in (full, src, ro):
        d.mkdir()
    mount("-t", "tmpfs", "-o", "size=1m", "tmpfs", str(full))
    try:
        mount("--bind", str(src), str(ro))
        try:
            mount("-o", "remount,bind,ro", str(ro))
            yield tmp_path / "ws", full, ro
        finally:
            subprocess.run(["umount", str(ro)], check=False)
    finally:
        subprocess.run(["umount", str(full)], check=False)


def failed_runs(ws) -> list:
    from halo_forge.runs import RunIndex

    return RunIndex(ws).search(status="failed").rows


@pytest.mark.parametrize("where, what, fix", [
    ("full", "no space left on the device [ENOSPC]", "free space there"),
    ("ro", "the file system is read-only [EROFS]", "pass an --output on a writable disk"),
])
def test_unwritable_output_is_one_error_line(mounts, capsys, where, what, fix):
    ws, full, ro = mounts
    folder = {"full": full, "ro": ro}[where]
    out = folder / "out"
    assert main([*TRAIN, "--output", str(out)]) == 2
    captured = capsys.readouterr()
    err = "\n".join(ln for ln in captured.err.splitlines() if not ln.startswith("sft: step"))  # progress
    assert err.startswith(f"Error: cannot write --output {out}: {what}") and f"fix: {fix}" in err
    assert err.count("Error:") == 1 and "Traceback" not in err + captured.out
    left = [p.name for p in folder.iterdir()]
    assert not [n for n in left if n == "out" or n.endswith(".partial")], left  # nothing published, no staging
    assert set(left) <= {".out.state"}, left  # only the resumable checkpoints (`--resume` once there is room)
    assert len(failed_runs(ws)) == 1
