"""What an MLflow run page says about a halo-forge run, without opening an artifact.

Pure functions over a run record (see `_store.new_record`); the store's steps log what they return.

- **Name**: "quickstart/dpo · 2026-11-30 14:02:11" for a recipe stage, "sft · tiny · 2026-11-30 …"
  for a lone run, "recipe quickstart · …" for a recipe's parent run (the run id stays in the
  `run_id` tag).
- **Description and tags**: the verdict, its reasons, the held-out figures with their n, the steps
  and the output (`mlflow.note.content` is the run page's Description); the parent run describes its
  stages in a table.
- **Metrics**: step series only. The training loss is one series named per trainer (`sft_loss`,
  `dpo_loss`, …) so a chart across runs never mixes SFT and DPO losses; TRL's one-off end-of-training
  figures (`train_loss`, `train_runtime`, …) and its `eval_*` values (the held-out figures again) are
  not streamed. Each held-out figure is a two-point series (before at step 0, after at the last step),
  and the parent run gets one point per stage (after stage i at step i).
- **Params**: the config's set values; LoRA fields only when LoRA is used.
"""

from __future__ import annotations

import time
from pathlib import PurePath

STATUS_WORDS = {"FINISHED": "completed", "FAILED": "failed", "KILLED": "killed", "RUNNING": "running"}
# TRL's end-of-training one-offs: train_loss is the mean over the run, the rest are timings
ONE_OFF = frozenset({"train_loss", "train_runtime", "train_samples_per_second", "train_steps_per_second",
                     "total_flos"})
LORA_FIELDS = frozenset({"use_dora", "use_rslora", "init_lora_weights"})
DESCRIPTION_TAG = "mlflow.note.content"
VERDICT_ORDER = {"passed": 0, "warned": 1, "failed": 2}


def stream_key(modality: str | None, key: str) -> str | None:
    """The metric name a streamed trainer value is logged under, or None when it is not a step series."""
    if key == "loss":
        return f"{modality or 'train'}_loss"
    if key in ONE_OFF or key.startswith("eval_"):
        return None
    return key


def _when(ms: int | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime((ms or time.time() * 1000) / 1000))


def run_name(record: dict) -> str:
    when = _when(record.get("start_time"))
    if record["kind"] == "parent":
        return f"recipe {(record.get('tags') or {}).get('recipe') or record['run_id']} · {when}"
    stage = (record.get("tags") or {}).get("stage")
    if stage:
        return f"{stage} · {when}"
    model = str((record.get("config") or {}).get("model") or "")
    short = PurePath(model.rstrip("/")).name or model or "?"
    return f"{record.get('modality') or 'run'} · {short} · {when}"


def params_config(config: dict) -> dict:
    """The config fields worth a param: set ones, and LoRA's only when adapters are trained."""
    full = bool(config.get("no_lora"))
    return {k: v for k, v in config.items()
            if v is not None and not (full and (k.startswith("lora_") or k in LORA_FIELDS))}


def _fmt(value) -> str:
    return "-" if value is None else f"{value:.4g}"


def _change(ev: dict) -> str:
    return "-" if ev.get("delta") is None else f"{ev['delta']:+.4g}"


def summary_points(summary: dict) -> list[tuple[str, float, int]]:
    """(metric, value, step): each held-out figure before (step 0) and after (the last step)."""
    steps = int(summary.get("total_train_steps_executed") or 0)
    points = []
    for ev in (summary.get("effectiveness") or {}).get("evaluations") or []:
        for value, step in ((ev.get("before"), 0), (ev.get("after"), steps)):
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                points.append((str(ev.get("metric") or "heldout"), float(value), step))
    return points


def status_word(record: dict) -> str | None:
    summary = record.get("summary") or {}
    return summary.get("status") or STATUS_WORDS.get((record.get("final_status") or "").upper())


def run_tags(record: dict) -> dict[str, str]:
    """The result tags of a training run: verdict, its reasons, the primary held-out figure and its n."""
    summary = record.get("summary") or {}
    eff = summary.get("effectiveness") or {}
    primary = eff.get("evaluation") or {}
    tags = {
        "run_id": record["run_id"], "modality": record.get("modality") or summary.get("modality"),
        "cache_key": (summary.get("inputs") or {}).get("cache_key"), "verdict": eff.get("verdict"),
        "verdict_reasons": "; ".join(eff.get("reasons") or []) or None, "status": status_word(record),
        "model_name": summary.get("model_name"), "backend": summary.get("backend"),
        "dataset_digest": (summary.get("inputs") or {}).get("dataset_digest"),
        "heldout_metric": primary.get("metric"),
        "heldout_n": primary.get("n") if primary else None,
        "heldout_change": f"{_fmt(primary.get('before'))} -> {_fmt(primary.get('after'))}" if primary else None,
        "steps": summary.get("total_train_steps_executed") if summary else None,
        DESCRIPTION_TAG: run_description(record) if summary else None,
    }
    return {k: str(v) for k, v in tags.items() if v is not None}


def run_description(record: dict) -> str:
    """Markdown for the run page: verdict and reasons first, then the held-out table and the facts."""
    summary = record.get("summary") or {}
    eff = summary.get("effectiveness") or {}
    stage = (record.get("tags") or {}).get("stage")
    lines = [f"**Verdict: {eff.get('verdict', '?')}** · {summary.get('modality')} run `{record['run_id']}`"
             + (f" (stage {stage})" if stage else "") + f" on `{summary.get('model_name')}`", ""]
    lines += [f"- {reason}" for reason in eff.get("reasons") or []]
    evaluations = eff.get("evaluations") or []
    if evaluations:
        lines += ["", "| held-out figure | before | after | change | n |", "|---|---|---|---|---|"]
        lines += [f"| {ev.get('metric')} | {_fmt(ev.get('before'))} | {_fmt(ev.get('after'))} | {_change(ev)} | "
                  f"{ev.get('n')} |" for ev in evaluations]
    duration = summary.get("duration_seconds")
    lines += ["", f"{summary.get('total_train_steps_executed', 0)} steps"
              + (f" in {duration:.1f} s" if isinstance(duration, (int, float)) else "")
              + f" · final train loss {_fmt(summary.get('final_train_loss'))} · status {status_word(record)}"]
    output = (summary.get("outputs") or {}).get("model_path")
    if output:
        lines.append(f"Model: `{output}`")
    for problem in (summary.get("extra") or {}).get("platform_errors") or []:
        lines.append(f"- platform error (the run itself is fine): {problem}")
    return "\n".join(lines)


# --- a recipe's parent run -------------------------------------------------------------------------

def stage_facts(stage: str, summary: dict, cache_hit: bool) -> dict:
    """What the parent run keeps of one stage (small: it travels in the pending record)."""
    eff = summary.get("effectiveness") or {}
    keep = ("metric", "before", "after", "delta", "n")
    return {"stage": stage, "run_id": summary.get("run_id"), "modality": summary.get("modality"),
            "cache_hit": bool(cache_hit), "verdict": eff.get("verdict"), "reasons": list(eff.get("reasons") or []),
            "evaluations": [{k: ev.get(k) for k in keep} for ev in eff.get("evaluations") or []]}


def recipe_verdict(record: dict) -> str:
    """The worst stage verdict; failed when the recipe did not finish every stage."""
    stages = record.get("stages") or []
    worst = max((s.get("verdict") or "failed" for s in stages), key=lambda v: VERDICT_ORDER.get(v, 2),
                default="failed")
    return "failed" if status_word(record) != "completed" else worst


def parent_points(record: dict) -> list[tuple[str, float, int]]:
    """(metric, value, step): held-out figures across the recipe, before the first stage at step 0 and after
    stage i at step i, so the parent's chart shows what each stage added."""
    series: dict[str, dict[int, float]] = {}
    for i, stage in enumerate(record.get("stages") or [], start=1):
        for ev in stage.get("evaluations") or []:
            points = series.setdefault(str(ev.get("metric")), {})
            if isinstance(ev.get("before"), (int, float)):
                points.setdefault(i - 1, float(ev["before"]))
            if isinstance(ev.get("after"), (int, float)):
                points[i] = float(ev["after"])
    return [(metric, value, step) for metric, points in series.items() for step, value in sorted(points.items())]


def parent_tags(record: dict) -> dict[str, str]:
    stages = record.get("stages") or []
    planned = (record.get("config") or {}).get("stages") or [s["stage"] for s in stages]
    passed = sum(s.get("verdict") == "passed" for s in stages)
    tags = {"run_id": record["run_id"], "modality": "recipe", "status": status_word(record),
            "verdict": recipe_verdict(record), "stages": " -> ".join(map(str, planned)),
            "stages_passed": f"{passed}/{len(planned)}", DESCRIPTION_TAG: parent_description(record)}
    return {k: str(v) for k, v in tags.items() if v is not None}


def parent_description(record: dict) -> str:
    stages = record.get("stages") or []
    planned = (record.get("config") or {}).get("stages") or [s["stage"] for s in stages]
    name = (record.get("tags") or {}).get("recipe") or record["run_id"]
    lines = [f"**Recipe {name}: {recipe_verdict(record)}** · {len(stages)} of {len(planned)} stages ran "
             f"(status {status_word(record)})", "",
             "| stage | run | verdict | held-out figure | before | after | n | cache hit |",
             "|---|---|---|---|---|---|---|---|"]
    for s in stages:
        ev = (s.get("evaluations") or [{}])[0]
        lines.append(f"| {s['stage']} | `{s.get('run_id')}` | {s.get('verdict')} | {ev.get('metric', '-')} | "
                     f"{_fmt(ev.get('before'))} | {_fmt(ev.get('after'))} | {ev.get('n', '-')} | "
                     f"{'yes' if s.get('cache_hit') else 'no'} |")
    for s in stages:
        if s.get("verdict") != "passed":
            lines += ["", f"{s['stage']} ({s.get('verdict')}):"] + [f"- {r}" for r in s.get("reasons") or []]
    return "\n".join(lines)


def result_tags(record: dict) -> dict[str, str]:
    return parent_tags(record) if record["kind"] == "parent" else run_tags(record)
