"""Replay: record what made a run, re-execute it from locked inputs, compare with the record.

    halo-forge replay sft-1795713955105          # drift check, `dvc repro`, diff with the record
    cd replay/sft-1795713955105 && dvc repro      # the same re-execution, DVC alone

After every successful, non-cached run the flow calls `record(...)`, which writes
`replay/<run_id>/`:

    manifest.json          config, seed, digests (dataset, model, code, cache key), verifier, versions,
                           the command, the materialised dataset file, the recorded figures
    recorded_summary.json  the run's training_summary.json as it was
    dvc.yaml               one stage: `halo-forge replay exec manifest.json --output out --metrics metrics.json`
    dvc.lock               (after a repro) hashes of the manifest, the dataset rows and the replayed model
    replays.jsonl          one line per `halo-forge replay`: when, drift found, override reason, outcome

On CPU a replay is bit-identical: same final loss, same held-out figures, same output model digest.
docs/REPLAY.md is the contract.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from halo_forge.errors import ConfigError, DataError, HaloForgeError
from halo_forge.lineage import dvcrepo
from halo_forge.lineage.drift import Drift, dataset_file_digest
from halo_forge.summary import SUMMARY_FILE, TrainingSummary, write_json_atomic

MANIFEST_VERSION = 1
RECORDED_SUMMARY = "recorded_summary.json"
LOG = "replays.jsonl"
# Environment variables that change a run's bytes (HF_HUB_OFFLINE ends up in the saved
# tokenizer_config.json as local_files_only) or its arithmetic (thread counts, cuBLAS workspace):
# recorded with the run and restored by `replay exec`.
REPLAY_ENV = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
              "CUBLAS_WORKSPACE_CONFIG")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


# --- the figures a replay must reproduce --------------------------------------------------------
def figures(summary: TrainingSummary) -> dict[str, Any]:
    """The compared figures, flat: loss, steps, weights moved, every held-out before/after, model digest."""
    out: dict[str, Any] = {
        "final_train_loss": summary.final_train_loss,
        "total_train_steps_executed": summary.total_train_steps_executed,
        "weights_updated": summary.weights_updated,
    }
    for ev in summary.effectiveness.evaluations:
        out[f"{ev.metric}.before"] = ev.before
        out[f"{ev.metric}.after"] = ev.after
    out["output_model_digest"] = summary.outputs.model_digest
    return out


@dataclass(frozen=True)
class Difference:
    figure: str
    recorded: Any
    replayed: Any


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and a == b


def compare(recorded: dict[str, Any], replayed: dict[str, Any]) -> list[Difference]:
    """Every figure that is not exactly equal (a figure present on one side only differs too)."""
    names = list(recorded) + [k for k in replayed if k not in recorded]
    return [Difference(k, recorded.get(k), replayed.get(k)) for k in names
            if not _same(recorded.get(k), replayed.get(k))]


# --- recording ----------------------------------------------------------------------------------
def _base_model(name: str, recorded_digest: str | None) -> tuple[dict[str, Any], str]:
    """({name, builtin, path (absolute, local folders only)}, digest). The built-in tiny model lives in
    $HALO_FORGE_HOME and is rebuilt identically anywhere, so only its name and digest are kept."""
    from halo_forge.lineage.digests import model_digest
    from halo_forge.models import tiny

    path = None
    if not tiny.is_tiny(name) and Path(name).expanduser().exists():
        path = str(Path(name).expanduser().resolve())
    digest = recorded_digest
    if digest is None:
        digest = model_digest(str(tiny.tiny_path(name)) if tiny.is_tiny(name) else path or name)
    return {"name": name, "builtin": tiny.is_tiny(name), "path": path}, digest


def record(workspace, *, summary: TrainingSummary, config, data_file: Path, command: list[str]) -> Path:
    """Write `replay/<run_id>/` (manifest, recorded summary, DVC stage) for a finished run; return that folder.

    `data_file` is the run's materialised `SplitData` JSON; one outside the workspace is copied to
    `workspace.datasets_dir` so the stage can depend on it.
    """
    from halo_forge.lineage.digests import code_digest

    root = Path(workspace.root).resolve()
    data_file = Path(data_file).resolve()
    data_digest = dataset_file_digest(data_file)
    if not data_file.is_relative_to(root):
        target = Path(workspace.datasets_dir).resolve() / f"{data_digest.split(':', 1)[1]}.json"
        if not target.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_suffix(f".{os.getpid()}.tmp")
            shutil.copyfile(data_file, tmp)
            os.replace(tmp, target)
        data_file = target
    folder = Path(workspace.replay_dir).resolve() / summary.run_id
    folder.mkdir(parents=True, exist_ok=True)

    base, model_digest = _base_model(str(config.model), summary.inputs.model_digest)
    digests = {"dataset": data_digest, "model": model_digest, "code": code_digest(summary.modality),
               "cache_key": summary.inputs.cache_key}
    if summary.inputs.dataset_digest not in (None, data_digest):
        # the trainer reshaped the rows it was given (e.g. chats to last-turn completions)
        digests["dataset_as_trained"] = summary.inputs.dataset_digest
    manifest = {
        "manifest_version": MANIFEST_VERSION,
        "run_id": summary.run_id,
        "modality": summary.modality,
        "recorded_at": _now(),
        "seed": summary.seed,
        "command": [str(c) for c in command],
        "config": config.model_dump(mode="json"),
        "dataset_file": data_file.relative_to(root).as_posix(),
        "dataset": summary.inputs.dataset,
        "base_model": base,
        "digests": digests,
        "verifier": summary.inputs.verifier,
        "backend": summary.backend,
        "versions": dict(summary.versions),
        "env": {k: os.environ.get(k) for k in REPLAY_ENV},
        "original_output": summary.outputs.model_path,
        "figures": figures(summary),
    }
    write_json_atomic(folder / dvcrepo.MANIFEST, manifest)
    write_json_atomic(folder / RECORDED_SUMMARY, summary.model_dump(mode="json"))

    rel = lambda p: Path(os.path.relpath(p, folder)).as_posix()  # noqa: E731
    model_dep = rel(base["path"]) if base["path"] and Path(base["path"]).is_relative_to(root) else None
    (folder / "dvc.yaml").write_text(dvcrepo.stage_yaml(run_id=summary.run_id, data_dep=rel(data_file),
                                                        model_dep=model_dep), encoding="utf-8")
    (folder / ".gitignore").write_text(f"/{dvcrepo.OUT}\n", encoding="utf-8")  # the model: hashed, not committed
    return folder


# --- finding and reading a recorded run ---------------------------------------------------------
def load_manifest(path: Path) -> dict[str, Any]:
    path = Path(path)
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise HaloForgeError(f"no replay manifest at {path}") from None
    except ValueError as exc:
        raise HaloForgeError(f"{path}: not a valid replay manifest ({exc})") from None
    missing = [k for k in ("run_id", "modality", "config", "dataset_file", "digests", "figures") if k not in manifest]
    if missing:
        raise HaloForgeError(f"{path}: not a replay manifest (missing {', '.join(missing)})")
    return manifest


def recorded_runs(workspace) -> list[str]:
    replay_dir = Path(workspace.replay_dir)
    return sorted(p.parent.name for p in replay_dir.glob(f"*/{dvcrepo.MANIFEST}")) if replay_dir.is_dir() else []


def find_recorded(workspace, run: str) -> Path:
    """The folder of recorded run `run` (a run id, or a path to its folder or manifest)."""
    folder = Path(workspace.replay_dir) / run
    if not (folder / dvcrepo.MANIFEST).is_file():
        given = Path(run)
        folder = given.parent if given.name == dvcrepo.MANIFEST else given
    if (folder / dvcrepo.MANIFEST).is_file():
        return folder.resolve()
    known = recorded_runs(workspace)
    shown = ", ".join(known[-5:]) + (f" (and {len(known) - 5} more)" if len(known) > 5 else "")
    raise HaloForgeError(f"no recorded run {run!r} in workspace {workspace.root} (looked for "
                         f"replay/{run}/{dvcrepo.MANIFEST})",
                         hint=f"recorded runs: {shown}" if known else
                         "no run is recorded in this workspace yet: train one first, or cd into the right workspace")


def _workspace_root(manifest_path: Path) -> Path:
    from halo_forge.workspace import MARKER, MARKER_DIR

    here = manifest_path.resolve().parent
    for folder in (here, *here.parents):
        if (folder / MARKER_DIR / MARKER).is_file():
            return folder
    return here.parents[1]  # replay/<run_id>/manifest.json


# --- re-executing (the DVC stage's command) ------------------------------------------------------
def _restore_env(manifest: dict) -> None:
    for key, value in (manifest.get("env") or {}).items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def exec_replay(manifest_path: Path, output: Path, metrics: Path | None = None) -> TrainingSummary:
    """Train again from the manifest's config and the materialised rows: no flow, no cache, no tracking."""
    from pydantic import ValidationError

    from halo_forge import registry
    from halo_forge.data import SplitData

    dvcrepo.watch_owner()  # killed `halo-forge replay` (even by SIGKILL) ends this training too
    manifest_path = Path(manifest_path)
    manifest = load_manifest(manifest_path)
    _restore_env(manifest)  # before transformers is imported: HF_HUB_OFFLINE is read at import
    data_file = _workspace_root(manifest_path) / manifest["dataset_file"]
    if not data_file.is_file():
        raise DataError(f"the run's dataset file is missing: {data_file}",
                        hint="restore it (git checkout / dvc checkout), or re-run the original training")
    data = SplitData.load(data_file)
    values = dict(manifest["config"], output=str(Path(output).resolve()), overwrite=True)
    base = manifest.get("base_model") or {}
    if base.get("path"):
        values["model"] = base["path"]  # a relative --model would resolve against this stage's folder
    cls = registry.config_class(manifest["modality"])
    try:
        config = cls.model_validate(values)
    except ValidationError as exc:
        raise ConfigError(f"{manifest_path}: the recorded config no longer validates:\n{exc}",
                          hint="this halo-forge version changed the config; replay with the recorded version") from None
    summary = registry.get_trainer(config, data=data).train()
    if metrics is not None:
        write_json_atomic(Path(metrics), figures(summary))
    return summary


# --- the replay command ---------------------------------------------------------------------------
@dataclass
class ReplayOutcome:
    run_id: str
    folder: Path
    drift: list[Drift]
    differences: list[Difference]
    replayed: TrainingSummary
    recorded: TrainingSummary
    allow_drift: str | None = None
    log: dict = field(default_factory=dict)

    @property
    def identical(self) -> bool:
        return not self.differences


def _log(folder: Path, entry: dict) -> dict:
    entry = {"at": _now(), **entry}
    with (folder / LOG).open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(entry, default=str) + "\n")
    return entry


def replay(workspace, run: str, *, allow_drift: str | None = None, echo: bool = True) -> ReplayOutcome:
    """Check drift, `dvc repro --force --single-item` the run's stage alone (into replay/<run_id>/out, a
    scratch folder), compare the replayed figures with the record.

    Drift refuses (HaloForgeError) unless `allow_drift` gives a reason; the reason, the drift and
    the outcome are appended to `replay/<run_id>/replays.jsonl`.
    """
    from halo_forge.lineage import drift as drift_check

    folder = find_recorded(workspace, run)
    manifest = load_manifest(folder / dvcrepo.MANIFEST)
    run_id = manifest["run_id"]
    drift = drift_check.check(manifest, Path(workspace.root))  # a missing input raises here
    base = {"run_id": run_id, "drift": [d.as_dict() for d in drift], "allow_drift": allow_drift}
    if drift and not allow_drift:
        _log(folder, {**base, "outcome": "refused"})
        listed = "\n".join(f"  - {d}" for d in drift)
        raise HaloForgeError(f"replay of {run_id} refused: its inputs drifted since it was recorded:\n{listed}",
                             hint='replay anyway with --allow-drift "REASON" (the reason is recorded in '
                                  f"replay/{run_id}/{LOG})")
    if dvcrepo.find_dvc_root(folder) is None:
        raise HaloForgeError(f"{workspace.root} is not a DVC repository, and replays run through `dvc repro`",
                             hint=f"run `halo-forge init {workspace.root}` once, then replay again")
    dvcrepo.check_console_script()
    # this run's own stage alone: --single-item never re-runs the stages that made its inputs (a DPO run on
    # outputs/quickstart/sft would otherwise retrain the whole quickstart and overwrite its outputs)
    rc, tail = dvcrepo.run_dvc("--wait-for-lock", "repro", "--force", "--single-item", f"dvc.yaml:{dvcrepo.STAGE}",
                               cwd=folder, echo=echo)
    if rc != 0 or not (folder / dvcrepo.OUT / SUMMARY_FILE).is_file():
        _log(folder, {**base, "outcome": "failed", "dvc_exit": rc})
        shown = "" if echo else "\n" + tail
        raise HaloForgeError(f"`dvc repro` of {folder} failed (exit {rc}){shown}",
                             hint="the output above says why; the recorded run is untouched")
    recorded = TrainingSummary.read(folder / RECORDED_SUMMARY)
    replayed = TrainingSummary.read(folder / dvcrepo.OUT)
    differences = compare(figures(recorded), figures(replayed))
    entry = _log(folder, {**base, "outcome": "differences" if differences else "identical",
                          "replayed_run_id": replayed.run_id,
                          "differences": [d.__dict__ for d in differences]})
    return ReplayOutcome(run_id=run_id, folder=folder, drift=drift, differences=differences, replayed=replayed,
                         recorded=recorded, allow_drift=allow_drift, log=entry)
