"""`halo-forge init`: a git + DVC workspace, idempotent, hiding internals but not what DVC hashes."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from halo_forge.cli.main import main
from halo_forge.lineage.dvcrepo import run_dvc

REPO = Path(__file__).resolve().parents[1]


def git_ignored(root: Path, rel: str) -> bool:
    return subprocess.run(["git", "check-ignore", "-q", rel], cwd=root).returncode == 0


def test_init_makes_a_workspace_once(tmp_path, capsys):
    ws = tmp_path / "ws"
    assert main(["init", str(ws)]) == 0
    out = capsys.readouterr().out
    for made in ("git repository", "DVC repository", "dvc.yaml", "replay/", ".halo-forge/"):
        assert made in out, out
    for path in (".git", ".dvc", "dvc.yaml", "replay", ".halo-forge/workspace.json", ".halo-forge/datasets"):
        assert (ws / path).exists(), path

    # internals are not committed; the marker and the materialised rows (replay stage deps) are
    assert git_ignored(ws, ".halo-forge/runs.duckdb") and git_ignored(ws, ".halo-forge/mlflow.db")
    assert git_ignored(ws, ".halo-forge/results/key.json") and git_ignored(ws, ".halo-forge/index-inbox/x")
    assert not git_ignored(ws, ".halo-forge/datasets/abc.json")
    assert not git_ignored(ws, ".halo-forge/workspace.json")
    # models, and what a replay leaves beside its record, are not; the replay record itself is
    assert git_ignored(ws, "outputs/sft/model.safetensors") and git_ignored(ws, "replay/sft-1/metrics.json")
    # (its out/ is ignored by the .gitignore the stage writes); DVC refuses to write a git-ignored dvc.lock
    assert not git_ignored(ws, "replay/sft-1/manifest.json") and not git_ignored(ws, "replay/sft-1/dvc.yaml")
    assert not git_ignored(ws, "replay/sft-1/dvc.lock")

    before = {p: p.stat().st_mtime_ns for p in ws.rglob("*") if ".git" not in p.parts}
    assert main(["init", str(ws)]) == 0
    assert "nothing to do" in capsys.readouterr().out
    assert {p: p.stat().st_mtime_ns for p in ws.rglob("*") if ".git" not in p.parts} == before

    # the workspace's dvc.yaml and this repository's own dvc.yaml (the quickstart replay) are valid DVC
    rc, listed = run_dvc("stage", "list", cwd=ws, echo=False)
    assert rc == 0, listed
    shutil.copy(REPO / "dvc.yaml", ws / "dvc.yaml")
    rc, listed = run_dvc("stage", "list", cwd=ws, echo=False)
    assert rc == 0 and "quickstart" in listed, listed


def test_init_inside_another_repository_uses_a_dvc_subdir(tmp_path, capsys):
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    ws = tmp_path / "project" / "ws"
    assert main(["init", str(ws)]) == 0
    out = capsys.readouterr().out
    assert "dvc init -q --subdir" in out and "git init" not in out, out
    assert (ws / ".dvc").is_dir() and not (ws / ".git").exists()
