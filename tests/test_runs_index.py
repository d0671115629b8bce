"""The run index (DuckDB): add/get, search filters, facets, paging, figure paths, errors, reindex,
lineage, compare, crash leftovers and schema upgrades. Real DuckDB files in tmp_path workspaces."""

from __future__ import annotations

import json
import os

import pytest

from halo_forge.errors import HaloForgeError
from halo_forge.runs import RunIndex, RunNotFound, RunsError
from halo_forge.summary import Evaluation, Inputs, Outputs, TrainingSummary, judge
from halo_forge.workspace import Workspace


def make(run_id: str, *, modality: str = "sft", model: str = "Qwen/Qwen2.5-0.5B", before: float | None = 0.2,
         after: float | None = 0.6, loss: float | None = 0.4, steps: int = 100, day: int = 1,
         status: str = "completed", extra: dict | None = None, config: dict | None = None,
         dataset_digest: str | None = "sha256:data1", model_digest: str | None = None,
         output_digest: str | None = None, second: tuple[float, float] | None = None) -> TrainingSummary:
    evals = [] if before is None else [Evaluation.of("heldout_accuracy", before, after, n=50, tolerance=0.02)]
    if second:
        evals.append(Evaluation.of("heldout_loss", *second, higher_is_better=False, n=50))
    return TrainingSummary(
        modality=modality, model_name=model, run_id=run_id, seed=day, status=status, backend="torch-cpu",
        started_at=f"2026-03-{day:02d}T12:00:00+00:00", ended_at=f"2026-03-{day:02d}T12:05:00+00:00",
        duration_seconds=300.0, total_train_steps_executed=steps, final_train_loss=loss,
        weights_updated=steps > 0, effectiveness=judge(evals, steps=steps, weights_updated=steps > 0),
        extra=extra if extra is not None else {"steps_per_second": 2.5, "peft": "lora", "loss_history": [1.0, 0.5]},
        config=config if config is not None else {"learning_rate": 2e-4, "optim": "adamw_torch",
                                                  "dataset": "codealpaca", "lora": {"rank": 16, "use_dora": False}},
        inputs=Inputs(dataset="codealpaca", dataset_digest=dataset_digest, model_digest=model_digest,
                      cache_key=f"sha256:key-{run_id}"),
        outputs=Outputs(model_path=f"/outputs/{run_id}", model_digest=output_digest))


@pytest.fixture
def index(tmp_path) -> RunIndex:
    return RunIndex(Workspace(tmp_path).ensure())


@pytest.fixture(scope="module")
def filled(tmp_path_factory) -> RunIndex:
    """Six runs with known figures (shared by the tests that only read)."""
    index = RunIndex(Workspace(tmp_path_factory.mktemp("filled")).ensure())
    return fill(index)


def fill(index: RunIndex) -> RunIndex:
    runs = [
        make("sft-a", day=1, loss=0.30, after=0.70, extra={"steps_per_second": 4.0, "peft": "lora"}),
        make("sft-b", day=2, loss=0.55, after=0.10, model="meta-llama/Llama-3.2-1B",
             extra={"steps_per_second": 1.5, "peft": "dora"}),  # regression → failed
        make("dpo-a", modality="dpo", day=3, loss=0.20, after=0.20, extra={"steps_per_second": 3.5, "peft": "lora"},
             config={"learning_rate": 5e-6, "optim": "adamw_torch", "beta": 0.1}),  # no improvement → warned
        make("dpo-b", modality="dpo", day=4, loss=None, before=None, after=None, steps=0,
             extra={"steps_per_second": 0.0}),  # no steps → failed
        make("grpo-a", modality="grpo", day=5, loss=0.9, after=0.95, model="Qwen/Qwen2.5-Coder-3B",
             second=(1.0, 1.2), extra={"steps_per_second": 8.0, "peft": "lora", "notes": ["x"]}),  # warned
        make("grpo-b", modality="grpo", day=6, loss=0.1, after=0.9, status="failed",
             extra={"steps_per_second": 9.5, "peft": "full"}),
    ]
    for r in runs:
        assert index.add(r) is True
    return index


def ids(result) -> list[str]:
    return [r.run_id for r in result.rows]


def test_add_get_and_readd_replaces(index):
    s = make("run-1", loss=0.5)
    assert index.add(s)
    assert index.get("run-1") == s
    assert index.pending() == 0
    index.add(make("run-1", loss=0.25))
    res = index.search()
    assert res.total == 1 and res.rows[0].final_train_loss == 0.25
    assert index.count() == 1
    row = index.row("run-1")
    assert row.verdict == "passed" and row.eval_after == 0.6 and row.cache_key == "sha256:key-run-1"
    assert row.started_at == "2026-03-01T12:00:00+00:00"


def test_empty_index_searches(index):
    res = index.search()
    assert res.total == 0 and res.rows == [] and res.facets["modality"] == {}


def test_unknown_run_is_a_user_error(filled):
    with pytest.raises(RunNotFound) as err:
        filled.get("sft-zzz")
    assert isinstance(err.value, HaloForgeError) and "no run sft-zzz" in str(err.value)
    assert "sft-a" in str(err.value)  # suggests close ids


def test_filters(filled):
    assert set(ids(filled.search(modality="dpo"))) == {"dpo-a", "dpo-b"}
    assert set(ids(filled.search(modality="dpo,grpo"))) == {"dpo-a", "dpo-b", "grpo-a", "grpo-b"}
    assert set(ids(filled.search(modality=["sft", "grpo"]))) == {"sft-a", "sft-b", "grpo-a", "grpo-b"}
    assert ids(filled.search(model="LLAMA")) == ["sft-b"]
    assert set(ids(filled.search(model="qwen2.5-coder"))) == {"grpo-a"}
    assert set(ids(filled.search(verdict="failed"))) == {"sft-b", "dpo-b"}
    assert set(ids(filled.search(verdict="warned"))) == {"dpo-a", "grpo-a"}
    assert ids(filled.search(status="failed")) == ["grpo-b"]
    assert ids(filled.search(modality="sft", verdict="passed")) == ["sft-a"]
    # since/until on started_at; a bare `until` date includes that day
    assert set(ids(filled.search(since="2026-03-05"))) == {"grpo-a", "grpo-b"}
    assert set(ids(filled.search(until="2026-03-02"))) == {"sft-a", "sft-b"}
    assert ids(filled.search(since="2026-03-02T13:00:00+01:00", until="2026-03-02T12:00:00Z")) == ["sft-b"]


def test_where_headline_columns(filled):
    assert set(ids(filled.search(where=["final_train_loss<0.5"]))) == {"sft-a", "dpo-a", "grpo-b"}
    assert set(ids(filled.search(where="eval_after>=0.9"))) == {"grpo-a", "grpo-b"}
    assert set(ids(filled.search(where=["eval_after>=0.6", "final_train_loss<=0.3"]))) == {"sft-a", "grpo-b"}
    assert ids(filled.search(where=["total_train_steps=0"])) == ["dpo-b"]
    assert ids(filled.search(where=["total_train_steps_executed == 0"])) == ["dpo-b"]  # summary name works too
    assert ids(filled.search(where=["weights_updated=false"])) == ["dpo-b"]
    assert set(ids(filled.search(where=["effectiveness.evaluation.after > 0.9"]))) == {"grpo-a"}  # → eval_after
    assert ids(filled.search(where=["model_name~llama"])) == ["sft-b"]
    assert ids(filled.search(where=["run_id=dpo-a"])) == ["dpo-a"]
    assert ids(filled.search(where=["started_at>=2026-03-06"])) == ["grpo-b"]


def test_where_figure_paths(filled):
    assert set(ids(filled.search(where=["extra.steps_per_second>3"]))) == {"sft-a", "dpo-a", "grpo-a", "grpo-b"}
    assert set(ids(filled.search(where=["extra.steps_per_second>3", "modality!=grpo"]))) == {"sft-a", "dpo-a"}
    assert set(ids(filled.search(where=["extra.peft=lora"]))) == {"sft-a", "dpo-a", "grpo-a"}
    assert ids(filled.search(where=["extra.peft~DOR"])) == ["sft-b"]
    assert ids(filled.search(where=["config.beta=0.1"])) == ["dpo-a"]
    assert set(ids(filled.search(where=["config.learning_rate<1e-5"]))) == {"dpo-a"}
    assert len(ids(filled.search(where=["config.lora.rank>=16"]))) == 5
    assert len(ids(filled.search(where=["config.lora.use_dora=false"]))) == 5
    assert set(ids(filled.search(where=["effectiveness.evaluation.n=50"]))) == set(ids(filled.search())) - {"dpo-b"}
    # through a list: read from the summary JSON
    assert ids(filled.search(where=["effectiveness.evaluations.1.after>1.1"])) == ["grpo-a"]
    assert ids(filled.search(where=["effectiveness.evaluations[0].metric=heldout_accuracy", "modality=dpo"])) \
        == ["dpo-a"]
    # a path no run has matches nothing (not an error: other runs may have it later)
    assert filled.search(where=["extra.never_seen>1"]).total == 0
    assert filled.search(where=["inputs.train_rows=0"]).total == 6


def test_text(filled):
    assert ids(filled.search(text="llama")) == ["sft-b"]
    assert set(ids(filled.search(text="regression"))) == {"sft-b", "grpo-a"}  # verdict reasons
    assert set(ids(filled.search(text="grpo regression"))) == {"grpo-a"}  # every word must match
    assert len(ids(filled.search(text="optim=adamw_torch"))) == 6  # config settings
    assert ids(filled.search(text="DPO-B")) == ["dpo-b"]
    assert filled.search(text="nothing-like-this").total == 0


def test_one_pass_filters_page_and_count_like_the_others(filled):
    """Free text and JSON-path filters take another query plan; its pages, totals and facets agree."""
    for kwargs in ({"sort": "final_train_loss", "descending": False, "limit": 2, "offset": 1},
                   {"sort": "started_at", "limit": 3}, {"facets": False, "limit": 1, "offset": 2}):
        by_text = filled.search(text="qwen", **kwargs)
        by_model = filled.search(model="qwen", **kwargs)
        assert ids(by_text) == ids(by_model) and by_text.total == by_model.total == 5
        assert by_text.facets == by_model.facets
    through_list = filled.search(where=["effectiveness.evaluations.0.after>=0.6"], sort="eval_after")
    headline = filled.search(where=["eval_after>=0.6"], sort="eval_after")
    assert ids(through_list) == ids(headline) and through_list.facets == headline.facets


def test_facets_follow_the_filters(filled):
    res = filled.search(limit=1)
    assert res.total == 6 and len(res.rows) == 1
    assert res.facets["modality"] == {"dpo": 2, "grpo": 2, "sft": 2}
    assert res.facets["verdict"] == {"failed": 2, "warned": 2, "passed": 2}
    assert res.facets["status"] == {"completed": 5, "failed": 1}
    assert res.facets["model_name"] == {"Qwen/Qwen2.5-0.5B": 4, "Qwen/Qwen2.5-Coder-3B": 1,
                                        "meta-llama/Llama-3.2-1B": 1}
    res = filled.search(where=["final_train_loss<0.5"])
    assert res.total == 3 and res.facets["modality"] == {"dpo": 1, "grpo": 1, "sft": 1}
    assert res.facets["verdict"] == {"passed": 2, "warned": 1}
    assert filled.search(facets=False, modality="sft").facets == {}
    assert filled.search(facets=False, modality="sft", limit=1).total == 2


def test_sort_and_paging(filled):
    assert ids(filled.search()) == ["grpo-b", "grpo-a", "dpo-b", "dpo-a", "sft-b", "sft-a"]  # newest first
    asc = ids(filled.search(sort="final_train_loss", descending=False))
    assert asc == ["grpo-b", "dpo-a", "sft-a", "sft-b", "grpo-a", "dpo-b"]  # no loss: last
    desc = ids(filled.search(sort="final_train_loss"))
    assert desc == ["grpo-a", "sft-b", "sft-a", "dpo-a", "grpo-b", "dpo-b"]  # nulls last either way
    page = filled.search(sort="final_train_loss", descending=False, limit=2, offset=2)
    assert ids(page) == ["sft-a", "sft-b"] and page.total == 6 and page.offset == 2
    assert filled.search(offset=10).rows == []
    assert ids(filled.search(sort="extra.steps_per_second", limit=1)) == ["grpo-b"]
    assert ids(filled.search(sort="eval_after", where=["modality=sft"])) == ["sft-a", "sft-b"]


@pytest.mark.parametrize("kwargs, message", [
    ({"where": ["final_train_loss"]}, "no comparison operator"),
    ({"where": ["final_train_loss<"]}, "no value after the operator"),
    ({"where": ["<0.5"]}, "FIELD must be a name"),
    ({"where": [""]}, "it is empty"),
    ({"where": ["loss<0.5"]}, "unknown field 'loss'"),
    ({"where": ["modalty=sft"]}, "did you mean modality"),
    ({"where": ["final_train_loss<abc"]}, "final_train_loss is a number"),
    ({"where": ["modality>sft"]}, "modality is text"),
    ({"where": ["weights_updated>1"]}, "true or false"),
    ({"where": ["started_at>yesterday"]}, "ISO date"),
    ({"where": ["extra>3"]}, "extra is a group"),
    ({"where": ["extras.steps_per_second>3"]}, "unknown field 'extras'"),
    ({"where": ["extra.peft>lora"]}, "needs a number"),
    ({"where": ["extra.steps_per_second~3"]}, "takes text"),
    ({"where": ["final_train_loss<0.5<1"]}, "one comparison per expression"),
    ({"sort": "loss"}, "cannot sort by 'loss'"),
    ({"verdict": "good"}, "unknown verdict 'good'"),
    ({"status": "running"}, "unknown status"),
    ({"since": "last week"}, "bad --since"),
    ({"limit": -1}, "limit -1 is out of range"),
    ({"offset": -5}, "offset -5 is negative"),
])
def test_bad_requests_say_what_and_how(filled, kwargs, message):
    with pytest.raises(RunsError) as err:
        filled.search(**kwargs)
    assert isinstance(err.value, HaloForgeError) and err.value.exit_code == 2
    assert message in str(err.value), str(err.value)
    if "where" in kwargs:
        assert "FIELD OP VALUE" in str(err.value)  # the accepted syntax is in the hint


def test_reindex_from_disk(index, tmp_path):
    root = tmp_path / "outputs"
    make("disk-1", day=1).write(root / "a")
    make("disk-2", modality="dpo", day=2).write(root / "b" / "nested")
    make("disk-1", day=3, loss=0.01).write(root / "copy")  # duplicate run id: the newest file wins
    os.utime(root / "a" / "training_summary.json", (1, 1))
    make("hidden", day=4).write(root / ".out.hidden.partial")  # staging folders are skipped
    (root / "bad").mkdir()
    (root / "bad" / "training_summary.json").write_text("{not json")
    index.add(make("only-in-index"))
    # a summary still waiting in the inbox is kept
    (index.inbox / "pending.json").parent.mkdir(parents=True, exist_ok=True)
    (index.inbox / "pending.json").write_text(make("pending").model_dump_json())

    report = index.reindex([root])
    assert report.found == 4 and report.indexed == 3 and report.duplicates == 1
    assert list(report.rejected) == [str(root / "bad" / "training_summary.json")]
    assert set(ids(index.search())) == {"disk-1", "disk-2", "pending"}  # rebuilt: only what is on disk
    assert index.row("disk-1").final_train_loss == 0.01
    assert index.pending() == 0
    # default root: the workspace root
    assert index.reindex().indexed == 2
    with pytest.raises(RunsError, match="no such folder"):
        index.reindex([tmp_path / "nope"])


def test_lineage_across_chained_runs(index):
    index.add(make("sft-1", day=1, model="halo-forge/tiny", model_digest="sha256:base",
                   output_digest="sha256:sft-out"))
    index.add(make("dpo-1", modality="dpo", day=2, model="/outputs/sft-1", model_digest="sha256:sft-out",
                   output_digest="sha256:dpo-out"))
    index.add(make("grpo-1", modality="grpo", day=3, model="/outputs/dpo-1", model_digest="sha256:dpo-out",
                   output_digest="sha256:grpo-out", dataset_digest="sha256:data2"))
    index.add(make("other", day=4, model_digest="sha256:unrelated"))

    mid = index.lineage("dpo-1")
    assert mid.base_model == "sha256:sft-out" and mid.output_model_digest == "sha256:dpo-out"
    assert [(u.run_id, u.depth, u.via) for u in mid.upstream] == [("sft-1", 1, "sha256:sft-out")]
    assert [(d.run_id, d.depth, d.via) for d in mid.downstream] == [("grpo-1", 1, "sha256:dpo-out")]
    assert mid.same_dataset == ["other", "sft-1"]
    first = index.lineage("sft-1")
    assert first.upstream == [] and [d.run_id for d in first.downstream] == ["dpo-1", "grpo-1"]
    assert [d.depth for d in first.downstream] == [1, 2]
    last = index.lineage("grpo-1")
    assert [u.run_id for u in last.upstream] == ["dpo-1", "sft-1"] and last.downstream == []
    assert last.same_dataset == []
    with pytest.raises(RunNotFound):
        index.lineage("nope")


def test_compare(filled):
    cmp = filled.compare(["sft-a", "dpo-a"])
    assert [r.run_id for r in cmp.runs] == ["sft-a", "dpo-a"]
    assert cmp.headline["modality"] == ["sft", "dpo"] and "modality" in cmp.differing
    assert "backend" not in cmp.differing and "run_id" not in cmp.differing
    assert cmp.config == {"beta": [None, 0.1], "dataset": ["codealpaca", None], "learning_rate": [2e-4, 5e-6],
                          "lora.rank": [16, None], "lora.use_dora": [False, None]}
    assert cmp.extra == {"steps_per_second": [4.0, 3.5]}
    with pytest.raises(RunsError, match="at least two"):
        filled.compare(["sft-a", "sft-a"])
    with pytest.raises(RunNotFound, match="no runs x, y"):
        filled.compare(["sft-a", "x", "y"])


def test_leftovers_of_a_crash_are_ingested(index):
    index.add(make("first"))
    # a process died after writing its inbox file, another after claiming but before deleting
    index.inbox.mkdir(parents=True, exist_ok=True)
    (index.inbox / "late.json").write_text(make("late").model_dump_json())
    index.claimed.mkdir(parents=True, exist_ok=True)
    (index.claimed / "first.json").write_text(make("first", loss=0.05).model_dump_json())
    (index.inbox / "broken.json").write_text('{"run_id": "broken"}')
    assert index.pending() == 3
    res = index.search()
    assert set(ids(res)) == {"first", "late"} and index.row("first").final_train_loss == 0.05
    assert index.pending() == 0
    assert (index.rejected / "broken.json").is_file() and (index.rejected / "broken.json.error.txt").is_file()


def test_busy_index_leaves_the_run_pending(index):
    index.add(make("a"))
    with index._lock(exclusive=True, timeout=1) as ok:
        assert ok
        assert index.add(make("b"), wait=0.2) is False  # no error, the run waits in the inbox
        assert index.pending() == 1
    assert set(ids(index.search())) == {"a", "b"}


def test_odd_run_ids_are_safe_file_names(index):
    weird = "../../etc/passwd run #1"
    index.add(make(weird))
    assert index.get(weird).run_id == weird
    assert not list(index.inbox.glob("*.json"))


def test_figure_column_cap_falls_back_to_json(index, monkeypatch):
    import halo_forge.runs.schema as mod

    monkeypatch.setattr(mod, "MAX_FIGURE_COLUMNS", 3)
    index.add(make("a", extra={"steps_per_second": 4.0, "peft": "lora", "zz": 7}))
    index.add(make("b", extra={"steps_per_second": 1.0, "zz": 1}))
    assert ids(index.search(where=["extra.zz>5"])) == ["a"]
    assert ids(index.search(where=["config.lora.rank>5", "extra.steps_per_second<2"])) == ["b"]


def test_old_index_version_is_rebuilt_from_its_summaries(index):
    import duckdb

    filled = fill(index)

    con = duckdb.connect(str(filled.path))
    con.execute("UPDATE meta SET value = '0' WHERE key = 'schema_version'")
    con.close()
    assert filled.search().total == 6
    con = duckdb.connect(str(filled.path), read_only=True)
    assert con.execute("SELECT value FROM meta").fetchone()[0] == "2"
    con.close()


def test_summary_column_holds_the_whole_summary(filled):
    import duckdb

    con = duckdb.connect(str(filled.path), read_only=True)
    doc = json.loads(con.execute("SELECT summary FROM runs WHERE run_id = 'grpo-a'").fetchone()[0])
    edges = con.execute("SELECT kind, count(*) FROM edges GROUP BY kind ORDER BY kind").fetchall()
    con.close()
    assert doc["extra"]["notes"] == ["x"] and doc["effectiveness"]["evaluations"][1]["metric"] == "heldout_loss"
    assert edges == [("base_model", 6), ("dataset", 6)]


def test_kept_read_connection(tmp_path):
    from halo_forge.runs.readers import _pool

    index = RunIndex(Workspace(tmp_path).ensure(), keepalive=0.2)
    index.add(make("a"))
    assert index.search().total == 1
    pool = _pool(index.path)
    assert pool.con is not None  # kept for the next search
    index.add(make("b"))  # this process writing closes it first (DuckDB allows no writer beside it)
    assert index.search().total == 2
    import time

    time.sleep(0.6)
    assert pool.con is None  # closed once idle, so other processes can write
    assert RunIndex(index.workspace, keepalive=0).search().total == 2 and pool.con is None
