"""Eight processes finish runs at the same moment while a ninth searches in a loop: every run lands in
the index and nobody sees a lock error (DuckDB allows one writing process per file)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from halo_forge.runs import RunIndex
from halo_forge.workspace import Workspace

REPO = Path(__file__).resolve().parents[1]
WRITERS = 8

ADDER = r"""
import os, sys, time
from pathlib import Path
import duckdb, pyarrow  # imported before the start signal, so the adds really overlap
from halo_forge.runs import RunIndex
from halo_forge.summary import Evaluation, Outputs, TrainingSummary, judge
from halo_forge.workspace import Workspace

root, i = Path(sys.argv[1]), int(sys.argv[2])
ev = [Evaluation.of("heldout_accuracy", 0.1, 0.1 + i / 100, n=10)]
summary = TrainingSummary(modality="sft", model_name=f"model-{i}", run_id=f"proc-{i}", seed=i,
                          started_at=f"2026-04-01T00:00:{i:02d}+00:00", total_train_steps_executed=5,
                          weights_updated=True, effectiveness=judge(ev, steps=5, weights_updated=True),
                          extra={"steps_per_second": float(i), f"only_in_{i}": i},  # new figure columns at once
                          outputs=Outputs(model_digest=f"sha256:out{i}"))
index = RunIndex(Workspace(root))
(root / f"ready-{i}").touch()
while not (root / "go").exists():
    time.sleep(0.002)
print("indexed" if index.add(summary) else "pending")
"""

SEARCHER = r"""
import sys, time
from pathlib import Path
from halo_forge.runs import RunIndex
from halo_forge.workspace import Workspace

root = Path(sys.argv[1])
index = RunIndex(Workspace(root))
n, best = 0, 0
while True:
    stop = (root / "stop").exists()
    res = index.search(where=["extra.steps_per_second>=0"], text="model", sort="started_at", limit=5)
    assert res.total == sum(res.facets["modality"].values())
    n, best = n + 1, max(best, res.total)
    if n == 1:
        (root / "searcher-ready").touch()
    if stop:
        break
print(n, best)
"""


def _spawn(code: str, *args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.Popen([sys.executable, "-c", code, *args], cwd=REPO, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _wait_for(paths: list[Path], procs: list[subprocess.Popen], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not all(p.exists() for p in paths):
        for proc in procs:
            if proc.poll() not in (None, 0):
                raise AssertionError(proc.stderr.read())
        assert time.monotonic() < deadline, "processes did not start"
        time.sleep(0.02)


def test_eight_processes_add_while_another_searches(tmp_path):
    ws = Workspace(tmp_path).ensure()
    searcher = _spawn(SEARCHER, str(tmp_path))
    writers = [_spawn(ADDER, str(tmp_path), str(i)) for i in range(WRITERS)]
    try:
        _wait_for([tmp_path / "searcher-ready"] + [tmp_path / f"ready-{i}" for i in range(WRITERS)],
                  [searcher, *writers])
        (tmp_path / "go").touch()
        outs = [w.communicate(timeout=180) for w in writers]
        (tmp_path / "stop").touch()
        s_out, s_err = searcher.communicate(timeout=120)
    finally:
        for p in [searcher, *writers]:
            if p.poll() is None:
                p.kill()
    for w, (out, err) in zip(writers, outs):
        assert w.returncode == 0 and err == "", err
        assert out.strip() == "indexed", out
    assert searcher.returncode == 0 and s_err == "", s_err
    searches, best = map(int, s_out.split())
    assert searches >= 2 and best == WRITERS  # its last search, after every add, saw them all

    index = RunIndex(ws)
    res = index.search(limit=100)
    assert res.total == WRITERS and {r.run_id for r in res.rows} == {f"proc-{i}" for i in range(WRITERS)}
    assert index.pending() == 0
    assert [r.run_id for r in index.search(where=["extra.only_in_3=3"]).rows] == ["proc-3"]


def test_another_process_writes_while_this_one_keeps_a_reader(tmp_path):
    """A process that has just searched keeps its read connection (DuckDB then refuses writers);
    a run added by another process still lands, with no error, once the reader goes idle."""
    ws = Workspace(tmp_path).ensure()
    index = RunIndex(ws)
    assert index.search().total == 0
    (tmp_path / "go").touch()
    writer = _spawn(ADDER, str(tmp_path), "0")
    out, err = writer.communicate(timeout=120)
    assert writer.returncode == 0 and err == "" and out.strip() == "indexed", err
    assert [r.run_id for r in index.search().rows] == ["proc-0"]
