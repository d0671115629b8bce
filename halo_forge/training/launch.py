"""Training in several processes: `--num-processes N` runs the trainer under `accelerate launch`.

    halo-forge sft train --dataset arithmetic --batch-size 2 --num-processes 2     # DDP; gloo on CPU
    halo-forge dpo train --dataset arithmetic_pref --num-processes 4 --distributed fsdp

The process that runs the flow keeps what must happen once: the Prefect task and its cache, the MLflow
run, the run index, the replay record. For N > 1 its `train(trainer)` starts

    accelerate launch --config_file configs/accelerate/<distributed>.yaml --num_processes N \\
        -m halo_forge.training.launch <spec.json>

and waits. Every rank builds the same trainer (same config, rows and run id) and runs its `train()`:
transformers joins the ranks in one process group (gloo on CPU, NCCL on GPUs) and splits each global
batch between them. Rank 0 alone writes (`training/ranks.py`): the output folder, the checkpoint
markers, the summary; it also relays every logged metric as a JSON line, which this process hands to
the run's callbacks (MLflow's stream) as it comes. When the ranks are done, the summary rank 0 wrote is
returned and recorded by the flow, once. A rank that fails fails the run (accelerate stops the others);
a user mistake in a rank comes back as the same `HaloForgeError`, a bug as `RankFailed` with its
traceback. If this process dies, the ranks notice within seconds and stop, removing their staging.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import SimpleNamespace

CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "accelerate"
SPEC, METRICS, SUMMARY = "spec.json", "metrics.jsonl", "summary.json"


class RankFailed(RuntimeError):
    """A rank of a multi-process run failed with a bug; the message carries that rank's traceback."""


def config_file(distributed: str) -> Path:
    """The accelerate config file of a --distributed choice (ddp, fsdp, zero2, zero3)."""
    return CONFIGS / f"{distributed}.yaml"


def launch_problems(config, trainer_cls, caps) -> list:
    """What stops `config` from running in --num-processes processes here (pure: nothing is started)."""
    from halo_forge.config import Problem

    n = getattr(config, "num_processes", 1)
    if n <= 1:
        return []
    problems = []
    if not getattr(trainer_cls, "multi_process", False):
        problems.append(Problem("num_processes", n, f"{config.modality} on {caps.backend} trains in one process "
                                                    "only: drop --num-processes"))
    if config.distributed in ("zero2", "zero3"):
        if importlib.util.find_spec("deepspeed") is None:
            problems.append(Problem("distributed", config.distributed, "DeepSpeed is not installed: pip install "
                                    "deepspeed (on a CUDA machine), or use --distributed ddp or fsdp"))
        elif not caps.gpu:
            problems.append(Problem("distributed", config.distributed, f"DeepSpeed ZeRO runs on CUDA GPUs; this run "
                                    f"is on {caps.backend}: use --distributed ddp or fsdp"))
    if config.distributed == "fsdp" and not caps.gpu:
        problems.append(Problem("distributed", "fsdp", f"FSDP shards over GPUs; on {caps.backend} accelerate runs the "
                                                       "processes as plain DDP and would ignore it: use --distributed ddp"))
    if caps.gpu:
        import torch

        if n > torch.cuda.device_count():
            problems.append(Problem("num_processes", n, f"one process per GPU and {torch.cuda.device_count()} are "
                                                        "visible: use at most that many (or set CUDA_VISIBLE_DEVICES)"))
    if not config_file(config.distributed).is_file():
        problems.append(Problem("distributed", config.distributed, f"{config_file(config.distributed)} is missing: "
                                "install halo-forge from its repository (pip install -e .), which ships configs/"))
    return problems


def launch_command(config, caps, spec: Path) -> list[str]:
    """The `accelerate launch` command line that runs `spec` in `config.num_processes` ranks."""
    from halo_forge.training.args import precision_name

    precision = {"fp32": "no"}.get(precision_name(config, caps), precision_name(config, caps))
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(config_file(config.distributed)),
           "--num_processes", str(config.num_processes), "--num_machines", "1", "--mixed_precision", precision,
           "--main_process_port", str(_free_port())]
    if caps.backend == "cpu":
        cmd += ["--num_cpu_threads_per_process", str(cpu_threads_per_rank(config.num_processes))]
    return cmd + ["-m", "halo_forge.training.launch", str(spec)]


def cpu_threads_per_rank(n: int) -> int:
    """Torch threads per CPU rank: $HALO_FORGE_CPU_THREADS or $OMP_NUM_THREADS, else the cores shared out."""
    chosen = os.environ.get("HALO_FORGE_CPU_THREADS") or os.environ.get("OMP_NUM_THREADS")
    return max(1, int(chosen)) if chosen else max(1, (os.cpu_count() or 1) // n)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- the process that runs the flow ----------------------------------------------------------------

def train(trainer):
    """`trainer.train()` in this process, or in `config.num_processes` ranks under `accelerate launch`."""
    if getattr(trainer.config, "num_processes", 1) <= 1:
        return trainer.train()
    from halo_forge.summary import TrainingSummary

    with tempfile.TemporaryDirectory(prefix=f"halo-forge-{trainer.run_id}-") as tmp:
        folder = Path(tmp)
        from halo_forge.orchestration.liveness import this_process

        spec = {"modality": trainer.modality, "config": trainer.config.model_dump(mode="json"),
                "run_id": trainer.run_id, "inputs_extra": trainer.inputs_extra, "parent": this_process(),
                "data_file": trainer.data.save(folder / "rows.json").name if trainer.data is not None else None}
        (folder / SPEC).write_text(json.dumps(spec), encoding="utf-8")
        cmd = launch_command(trainer.config, trainer.caps, folder / SPEC)
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, start_new_session=True)
        relay = Relay(folder / METRICS, trainer.callbacks)
        try:
            while proc.poll() is None:
                relay.forward()
                time.sleep(0.25)
        except BaseException:  # Ctrl-C or SIGTERM here: the ranks unwind (their staging removed), then go
            _end(proc)
            raise
        relay.forward()
        if proc.returncode != 0 or not (folder / SUMMARY).is_file():
            raise _failure(folder, proc.returncode, cmd)
        return TrainingSummary.model_validate_json((folder / SUMMARY).read_text(encoding="utf-8"))


class Relay:
    """Reads the metrics rank 0 appends to `path` and hands each logged dict to `callbacks`' `on_log`."""

    def __init__(self, path: Path, callbacks: list) -> None:
        self.path, self.callbacks, self.offset = path, callbacks, 0

    def forward(self) -> None:
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self.offset)
                chunk = fh.read()
        except FileNotFoundError:
            return
        complete = chunk[:chunk.rfind(b"\n") + 1]  # a line still being written waits for the next call
        self.offset += len(complete)
        for line in complete.splitlines():
            entry = json.loads(line)
            state = SimpleNamespace(global_step=entry["step"], is_world_process_zero=True, is_local_process_zero=True)
            for callback in self.callbacks:
                callback.on_log(None, state, None, logs=entry["logs"])


def _end(proc: subprocess.Popen, grace: float = 30.0) -> None:
    """SIGTERM the launcher's process group (the ranks unwind), SIGKILL what is left after `grace` s."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    except ProcessLookupError:
        pass


def _failure(folder: Path, code: int, cmd: list[str]) -> BaseException:
    """The error a failed launch stands for: the first rank's own error, preferring one that was not an
    interruption (accelerate interrupts the other ranks when one fails)."""
    from halo_forge import errors

    reports = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(folder.glob("failure-*.json"))]
    reports.sort(key=lambda r: (r["type"] == "KeyboardInterrupt", r["rank"]))
    if not reports:
        return RankFailed(f"`accelerate launch` exited with code {code} and no rank reported why (see the output "
                          f"above); command: {' '.join(cmd)}")
    first = reports[0]
    if first["halo_forge_error"]:
        cls = getattr(errors, first["type"], errors.HaloForgeError)
        try:
            return cls(first["message"], hint=first["hint"])
        except TypeError:
            return errors.HaloForgeError(first["message"], hint=first["hint"])
    return RankFailed(f"rank {first['rank']} of {first['world_size']} failed: {first['type']}: "
                      f"{first['message']}\n--- rank {first['rank']} traceback ---\n{first['traceback']}")


# --- one rank (python -m halo_forge.training.launch SPEC, started by accelerate launch) ---------------

def rank_main(spec_path: Path) -> int:
    import traceback

    from halo_forge.errors import HaloForgeError
    from halo_forge.summary import write_json_atomic
    from halo_forge.training.ranks import is_main, rank, world_size

    folder = spec_path.parent
    spec = json.loads(spec_path.read_text(encoding="utf-8"))
    _unwind_on_sigterm()
    _stop_when_gone(spec["parent"])
    try:
        summary = _train_rank(spec, folder)
        if is_main():
            write_json_atomic(folder / SUMMARY, summary.model_dump(mode="json"))
        return 0
    except BaseException as exc:  # reported to the flow's process, which raises it there
        ours = isinstance(exc, HaloForgeError)
        write_json_atomic(folder / f"failure-{rank()}.json", {
            "rank": rank(), "world_size": world_size(), "type": type(exc).__name__, "halo_forge_error": ours,
            "message": getattr(exc, "message", str(exc)), "hint": getattr(exc, "hint", None),
            "traceback": "".join(traceback.format_exception(exc))[-8000:]})
        if not ours and not isinstance(exc, KeyboardInterrupt):
            traceback.print_exc()
        return 2 if ours else 1
    finally:
        _leave_process_group()


def _train_rank(spec: dict, folder: Path):
    from halo_forge import registry
    from halo_forge.data import SplitData
    from halo_forge.orchestration.storage import storage_errors
    from halo_forge.training.ranks import is_main

    os.environ["HALO_FORGE_RUN_ID"] = spec["run_id"]  # every rank trains under the flow's run id
    config = registry.config_class(spec["modality"])(**spec["config"])
    data = SplitData.load(folder / spec["data_file"]) if spec["data_file"] else None
    trainer = registry.get_trainer(config, data=data)
    trainer.inputs_extra = dict(spec["inputs_extra"])
    trainer.quiet = not is_main()
    if is_main():
        trainer.callbacks.append(metrics_relay(folder / METRICS))
    with storage_errors(trainer.output):  # a full or read-only disk: the same StorageError as in one process
        return trainer.train()


def metrics_relay(path: Path):
    """Rank 0's TrainerCallback: one JSON line per `on_log` ({step, logs}), read by `Relay` in the flow."""
    from transformers import TrainerCallback

    class MetricsRelay(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            with open(path, "a", encoding="utf-8") as fh:
                fh.write(json.dumps({"step": int(state.global_step), "logs": logs or {}}, default=str) + "\n")

    return MetricsRelay()


def _unwind_on_sigterm() -> None:
    """accelerate stops ranks with SIGTERM: unwind like Ctrl-C, so rank 0 removes its staging folder."""
    def handler(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, handler)


def _stop_when_gone(parent: dict, every: float = 1.0) -> None:
    """Stop this rank (as SIGTERM does) when the flow's process is gone (killed, even by SIGKILL): nobody
    would record its result. `parent` is `liveness.this_process()` of that process (pid reuse is seen)."""
    from halo_forge.orchestration.liveness import holder_alive

    def watch() -> None:
        while holder_alive(parent):
            time.sleep(every)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="halo-forge-parent-watch", daemon=True).start()


def _leave_process_group() -> None:
    if "torch" not in sys.modules:
        return
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


if __name__ == "__main__":
    from halo_forge.shutdown import exit_now

    exit_now(rank_main(Path(sys.argv[1])))
