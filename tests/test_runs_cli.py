"""`halo-forge runs search|show|compare|lineage|reindex` through the real entry point."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from halo_forge.cli.main import main
from halo_forge.runs import RunIndex
from halo_forge.workspace import Workspace

from test_runs_index import make


@pytest.fixture
def ws(tmp_path, monkeypatch):
    ws = Workspace(tmp_path).ensure()
    monkeypatch.setenv("HALO_FORGE_WORKSPACE", str(tmp_path))
    index = RunIndex(ws)
    index.add(make("sft-1", day=1, loss=0.3, model_digest="sha256:" + "b" * 64, output_digest="sha256:" + "s" * 64))
    index.add(make("dpo-1", modality="dpo", day=2, loss=0.2, after=0.8, model_digest="sha256:" + "s" * 64,
                   output_digest="sha256:" + "d" * 64, config={"learning_rate": 5e-6, "optim": "adamw_torch"}))
    index.add(make("sft-2", day=3, loss=0.9, after=0.1, model="meta-llama/Llama-3.2-1B"))
    return ws


def run(capsys, *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_search_table_and_facets(ws, capsys):
    rc, out, err = run(capsys, "runs", "search")
    assert rc == 0, err
    for run_id in ("sft-1", "dpo-1", "sft-2"):
        assert run_id in out
    assert out.index("sft-2") < out.index("dpo-1") < out.index("sft-1")  # newest first
    assert "3 runs match; showing 1–3" in out
    assert "modality: sft 2 · dpo 1" in out and "verdict:" in out and "model:" in out


def test_search_prints_full_values_on_80_columns(ws, capsys, monkeypatch):
    """A long model path used to squeeze the table into `modali…` and `2026-03-…`: every value stays whole."""
    monkeypatch.setenv("COLUMNS", "80")
    RunIndex(ws).add(make("grpo-1796021775474", modality="grpo", day=4, loss=0.123456,
                          model="/home/someone/projects/halo/outputs/quickstart/dpo-after-sft"))
    rc, out, err = run(capsys, "runs", "search")
    assert rc == 0, err
    assert "…" not in out and max(map(len, out.splitlines())) <= 80, out
    for whole in ("grpo-1796021775474", "/home/someone/projects/halo/outputs/quickstart/dpo-after-sft", "2026-03-04",
                  "grpo", "passed", "0.1235", "0.2→0.6", "sft-1", "2026-03-01"):
        assert whole in out, (whole, out)
    monkeypatch.setenv("COLUMNS", "200")  # a wide terminal keeps the table
    rc, out, _ = run(capsys, "runs", "search")
    assert "run / model" in out and "modality" in out.splitlines()[0]


def test_search_filters_and_json(ws, capsys):
    rc, out, err = run(capsys, "runs", "search", "--modality", "sft", "--where", "final_train_loss<0.5",
                       "--where", "extra.steps_per_second>1", "--json")
    assert rc == 0, err
    data = json.loads(out)
    assert [r["run_id"] for r in data["rows"]] == ["sft-1"] and data["total"] == 1
    assert data["facets"]["modality"] == {"sft": 1}
    rc, out, _ = run(capsys, "runs", "search", "--text", "llama", "--json")
    assert [r["run_id"] for r in json.loads(out)["rows"]] == ["sft-2"]
    rc, out, _ = run(capsys, "runs", "search", "--sort", "final_train_loss", "--asc", "--limit", "1",
                     "--offset", "1", "--json")
    assert [r["run_id"] for r in json.loads(out)["rows"]] == ["sft-1"]
    rc, out, _ = run(capsys, "runs", "search", "--verdict", "failed", "--since", "2026-03-02", "--until", "2026-03-03")
    assert rc == 0 and "sft-2" in out and "sft-1" not in out
    rc, out, _ = run(capsys, "runs", "search", "--model", "nothing")
    assert rc == 0 and "no runs match" in out


def test_bad_filter_is_one_clean_error(ws, capsys):
    rc, out, err = run(capsys, "runs", "search", "--where", "loss<<1")
    assert rc == 2 and err.startswith("Error: bad --where expression") and "FIELD OP VALUE" in err
    assert "Traceback" not in err
    rc, out, err = run(capsys, "runs", "search", "--sort", "nope")
    assert rc == 2 and "cannot sort by 'nope'" in err


def test_show(ws, capsys):
    rc, out, err = run(capsys, "runs", "show", "dpo-1")
    assert rc == 0, err
    assert "dpo run dpo-1" in out and "verdict: passed" in out and '"learning_rate": 5e-06' in out
    rc, out, _ = run(capsys, "runs", "show", "dpo-1", "--json")
    assert json.loads(out)["run_id"] == "dpo-1"


def test_unknown_run_exits_2(ws, capsys):
    for argv in (["runs", "show", "nope"], ["runs", "lineage", "nope"], ["runs", "compare", "sft-1", "nope"]):
        rc, out, err = run(capsys, *argv)
        assert rc == 2 and err.startswith("Error: no run") and "nope" in err, err


def test_compare(ws, capsys):
    rc, out, err = run(capsys, "runs", "compare", "sft-1", "dpo-1")
    assert rc == 0, err
    assert "modality" in out and "final_train_loss" in out and "learning_rate" in out
    assert "config settings that differ" in out
    rc, out, _ = run(capsys, "runs", "compare", "sft-1", "dpo-1", "--json")
    data = json.loads(out)
    assert data["config"]["learning_rate"] == [2e-4, 5e-6] and "modality" in data["differing"]
    rc, _, err = run(capsys, "runs", "compare", "sft-1")
    assert rc == 2 and "at least two" in err


def test_lineage(ws, capsys):
    rc, out, err = run(capsys, "runs", "lineage", "dpo-1")
    assert rc == 0, err
    assert "earlier stages" in out and "← sft-1" in out and "later stages: none" in out
    rc, out, _ = run(capsys, "runs", "lineage", "sft-1", "--json")
    data = json.loads(out)
    assert [d["run_id"] for d in data["downstream"]] == ["dpo-1"] and data["upstream"] == []


def test_reindex(ws, capsys, tmp_path):
    make("on-disk", day=9).write(tmp_path / "outputs" / "x")
    rc, out, err = run(capsys, "runs", "reindex")
    assert rc == 0, err
    assert "indexed 1 runs from 1 summary files" in out
    rc, out, _ = run(capsys, "runs", "search", "--json")
    assert [r["run_id"] for r in json.loads(out)["rows"]] == ["on-disk"]
    rc, out, _ = run(capsys, "runs", "reindex", str(tmp_path / "outputs"), "--json")
    assert json.loads(out)["indexed"] == 1
    rc, _, err = run(capsys, "runs", "reindex", str(tmp_path / "missing"))
    assert rc == 2 and "no such folder" in err


def test_help_imports_no_duckdb():
    probe = ("import sys\nfrom halo_forge.cli.main import main\nmain(['runs', '--help'])\nmain(['--help'])\n"
             "print(sorted(m for m in ('duckdb', 'torch', 'pandas', 'pyarrow') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert "search" in out and out.strip().endswith("[]"), out
