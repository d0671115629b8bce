"""Scale-out on existing engines: two CPU ranks under `accelerate launch` (gloo) train SFT and DPO to what one
process with the same global batch trains, recorded once, into a real `mlflow server` started here."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from halo_forge.cli.main import main
from halo_forge.config import build_config
from halo_forge.summary import TrainingSummary

REPO = Path(__file__).resolve().parents[1]
# 4 AdamW steps of the tiny model; per-device batch 2 on 2 ranks = global batch 4
STEPS = ["--model", "halo-forge/tiny", "--no-lora", "--max-steps", "4", "--learning-rate", "1e-3",
         "--logging-steps", "1", "--max-eval-samples", "8", "--eval-max-new-tokens", "4"]
# Measured (docs/SCALE.md): after 4 steps the largest weight difference to one process was 7.8e-7 (SFT) and
# 3.8e-5 (DPO: AdamW turns rounding noise in near-zero gradients into full-size steps); losses agree to 1e-6.
WEIGHT_TOLERANCE = {"sft": 1e-5, "dpo": 2e-4}
LOSS_TOLERANCE = 1e-5


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory):
    """`mlflow server` with a sqlite store and served artifacts, as docs/SCALE.md starts it (once per module)."""
    root = tmp_path_factory.mktemp("mlflow-server")
    port = _free_port()
    cmd = [str(Path(sys.executable).parent / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port),
           "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}", "--artifacts-destination", str(root / "artifacts"),
           "--workers", "1"]
    log = open(root / "server.log", "wb")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                            env={**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"})
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 240
    while True:
        assert proc.poll() is None, (root / "server.log").read_text()
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as resp:
                if resp.status == 200:
                    break
        except OSError:
            pass
        assert time.monotonic() < deadline, "mlflow server did not become healthy"
        time.sleep(0.5)
    yield url
    os.killpg(proc.pid, signal.SIGTERM)  # its uvicorn and huey workers too
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # the huey consumers outlive a terminated server
    except ProcessLookupError:
        pass


@pytest.fixture()
def workspace(tmp_path, monkeypatch, rows_file):
    monkeypatch.setenv("HALO_FORGE_WORKSPACE", str(tmp_path / "ws"))
    monkeypatch.chdir(tmp_path)
    return tmp_path / "ws", rows_file


def _weights(folder: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(folder / "model.safetensors"))


def _single_process(modality: str, summary: TrainingSummary, output: Path) -> TrainingSummary:
    """The same run in this process, with the same global batch in one device batch."""
    from halo_forge import registry

    values = {**summary.config, "num_processes": 1, "batch_size": 4, "output": str(output)}
    trainer = registry.get_trainer(build_config(registry.config_class(modality), values))
    trainer.quiet = True
    return trainer.train()


def _check_recorded_once(ws: Path, summary: TrainingSummary, url: str) -> None:
    """Rank 0's summary, in the index once, in the replay records once, in MLflow once with its stream."""
    from mlflow import MlflowClient
    from mlflow.artifacts import download_artifacts

    from halo_forge.runs import RunIndex
    from halo_forge.workspace import Workspace

    index = RunIndex(Workspace(ws))
    assert index.count() == 1 and index.get(summary.run_id).extra["world_size"] == 2
    assert [p.name for p in (ws / "replay").iterdir() if p.is_dir()] == [summary.run_id]
    client = MlflowClient(url)
    runs = client.search_runs([client.get_experiment_by_name("halo-forge").experiment_id],
                              filter_string=f"tags.run_id = '{summary.run_id}'")
    assert len(runs) == 1, [r.info.run_id for r in runs]
    run = runs[0]
    assert run.info.status == "FINISHED" and run.data.params["num_processes"] == "2"
    streamed = [k for k in run.data.metrics if len(client.get_metric_history(run.info.run_id, k)) == 4]
    assert streamed, f"rank 0's per-step metrics reach MLflow through the flow's process: {sorted(run.data.metrics)}"
    artifact = download_artifacts(run_id=run.info.run_id, artifact_path="training_summary.json", tracking_uri=url)
    assert json.loads(Path(artifact).read_text())["run_id"] == summary.run_id  # through the server's artifact proxy


def _check_same_as_one_process(modality: str, out: Path, summary: TrainingSummary, single: TrainingSummary) -> None:
    multi, one = _weights(out), _weights(Path(single.outputs.model_path))
    worst = max(float((multi[k] - one[k]).abs().max()) for k in one)
    assert worst <= WEIGHT_TOLERANCE[modality], worst
    assert summary.weights_updated and summary.extra["weight_delta_l2"] > 0.1
    pairs = zip(summary.extra["loss_history"], single.extra["loss_history"])
    assert all(abs(a["loss"] - b["loss"]) <= LOSS_TOLERANCE * abs(b["loss"]) for a, b in pairs)
    assert summary.extra["world_size"] == 2 and summary.extra["global_batch_size"] == 4
    assert single.extra["world_size"] == 1 and single.extra["global_batch_size"] == 4
    leftovers = [p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}")]
    assert leftovers == [], "no staging or checkpoint folder outlives a published run"


def test_two_cpu_ranks_train_sft_like_one_process_and_record_once(workspace, mlflow_server, monkeypatch):
    ws, data = workspace
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    out = ws.parent / "sft-2"
    assert main(["sft", "train", "--data", str(data), "--output", str(out), *STEPS, "--batch-size", "2",
                 "--num-processes", "2", "--checkpoint-every", "2"]) == 0
    summary = TrainingSummary.read(out)
    assert summary.status == "completed" and "platform_errors" not in summary.extra
    _check_recorded_once(ws, summary, mlflow_server)
    _check_same_as_one_process("sft", out, summary, _single_process("sft", summary, ws.parent / "sft-1"))


def test_two_cpu_ranks_train_dpo_like_one_process_and_record_once(workspace, mlflow_server, monkeypatch):
    ws, _ = workspace
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    out = ws.parent / "dpo-2"
    assert main(["dpo", "train", "--dataset", "arithmetic_pref", "--max-samples", "40", "--output", str(out), *STEPS,
                 "--batch-size", "2", "--num-processes", "2"]) == 0
    summary = TrainingSummary.read(out)
    _check_recorded_once(ws, summary, mlflow_server)
    _check_same_as_one_process("dpo", out, summary, _single_process("dpo", summary, ws.parent / "dpo-1"))


@pytest.mark.parametrize("flags, expect", [
    (["--distributed", "fsdp"], "--distributed (got 'fsdp'): shares a run between processes but --num-processes is 1"),
    (["--num-processes", "2", "--distributed", "fsdp"], "FSDP shards over GPUs; on cpu accelerate runs the processes "
                                                        "as plain DDP"),
    (["--num-processes", "2", "--distributed", "zero3"], "--distributed (got 'zero3'): DeepSpeed is not installed: "
                                                         "pip install deepspeed"),
    (["--num-processes", "0"], "--num-processes (got 0): Input should be greater than or equal to 1"),
])
def test_launch_mistakes_exit_2_before_anything_starts(workspace, capsys, flags, expect):
    ws, data = workspace
    assert main(["sft", "train", "--data", str(data), "--output", str(ws.parent / "o"), *flags]) == 2
    assert expect in capsys.readouterr().err
    assert not (ws.parent / "o").exists()


def test_a_trainer_with_its_own_loop_refuses_several_processes(workspace, capsys):
    ws, _ = workspace
    assert main(["raft", "train", "--dataset", "arithmetic_prompts", "--num-processes", "2"]) == 2
    assert "--num-processes (got 2): raft on cpu trains in one process only" in capsys.readouterr().err


def test_a_rank_reports_a_user_mistake_as_the_same_error(tmp_path):
    """A rank that fails with a HaloForgeError removes its staging, exits 2 and writes its report; the flow's
    process raises the same error class from it (here a real rank whose model folder is gone)."""
    from halo_forge.errors import ModelError
    from halo_forge.orchestration.liveness import this_process
    from halo_forge.training import launch

    config = {"dataset": "arithmetic", "model": str(tmp_path / "gone"), "output": str(tmp_path / "out")}
    spec = {"modality": "sft", "config": config, "run_id": "sft-1", "inputs_extra": {}, "parent": this_process(),
            "data_file": None}
    (tmp_path / launch.SPEC).write_text(json.dumps(spec))
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run([sys.executable, "-m", "halo_forge.training.launch", str(tmp_path / launch.SPEC)],
                          env=env, capture_output=True, text=True)
    assert proc.returncode == 2, proc.stderr
    error = launch._failure(tmp_path, proc.returncode, ["accelerate", "launch"])
    assert isinstance(error, ModelError) and str(tmp_path / "gone") in str(error)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["failure-0.json", launch.SPEC], "no staging folder left"


def test_the_launch_command_and_the_shipped_accelerate_configs():
    from accelerate.commands.config.config_args import load_config_from_file

    from halo_forge.backend import capabilities
    from halo_forge.sft.config import SFTConfig
    from halo_forge.training import launch

    for name in ("ddp", "fsdp", "zero2", "zero3"):
        path = launch.config_file(name)
        first = path.read_text().splitlines()[0]
        assert first.startswith("# halo-forge ") and f"--distributed {name}" in first, first
        loaded = load_config_from_file(str(path))
        assert loaded.distributed_type.value == {"ddp": "MULTI_GPU", "fsdp": "FSDP"}.get(name, "DEEPSPEED")
    config = build_config(SFTConfig, {"dataset": "arithmetic", "num_processes": 2})
    cmd = launch.launch_command(config, capabilities("cpu"), Path("/tmp/spec.json"))
    assert cmd[1:4] == ["-m", "accelerate.commands.launch", "--config_file"] and cmd[4].endswith("ddp.yaml")
    assert cmd[cmd.index("--num_processes") + 1] == "2" and cmd[cmd.index("--mixed_precision") + 1] == "no"
    assert cmd[-3:] == ["-m", "halo_forge.training.launch", "/tmp/spec.json"]


def test_grpo_server_mode_hands_trl_where_the_vllm_server_is(tmp_path, monkeypatch):
    """vLLM is GPU-only and cannot install here: what halo-forge hands TRL's GRPOConfig is checked instead."""
    from halo_forge.backend import capabilities
    from halo_forge.grpo.config import GRPOConfig
    from halo_forge.grpo.torch_trainer import TorchGRPOTrainer
    from halo_forge.rollout import base

    monkeypatch.setattr(base, "_has", lambda module: True)
    monkeypatch.setattr(base, "_cuda", lambda: True)
    config = build_config(GRPOConfig, {"dataset": "arithmetic_prompts", "rollout_engine": "vllm", "vllm_mode": "server",
                                       "vllm_server_base_url": "http://gpu-node:8000", "vllm_server_timeout": 60})
    trl = TorchGRPOTrainer.plan_for(config, capabilities("cpu"))["trl"]
    assert {k: trl[k] for k in trl if k.startswith("vllm") or k == "use_vllm"} == {
        "use_vllm": True, "vllm_mode": "server", "vllm_server_base_url": "http://gpu-node:8000",
        "vllm_server_host": "0.0.0.0", "vllm_server_port": 8000, "vllm_server_timeout": 60.0}
    from trl import GRPOConfig as TRLGRPOConfig

    args = TRLGRPOConfig(**{**trl, "use_cpu": True}, output_dir=str(tmp_path))  # TRL takes every field as given
    assert (args.vllm_server_base_url, args.vllm_server_timeout) == ("http://gpu-node:8000", 60.0)
    colocate = build_config(GRPOConfig, {"dataset": "arithmetic_prompts", "rollout_engine": "vllm"})
    assert "vllm_server_host" not in TorchGRPOTrainer.plan_for(colocate, capabilities("cpu"))["trl"]


@pytest.mark.parametrize("flags, expect", [
    (["--rollout-engine", "vllm", "--vllm-mode", "server", "--vllm-server-port", "8001"],
     "--rollout-engine (got 'vllm'): --rollout-engine vllm: the vllm package is not installed"),
    (["--vllm-server-port", "8001"], "--vllm-server-port (got 8001): addresses a vLLM server, but --vllm-mode is "
                                     "colocate"),
    (["--vllm-mode", "server", "--vllm-server-base-url", "http://gpu-node:8000", "--vllm-server-host", "gpu-node"],
     "--vllm-server-host (got 'gpu-node'): ignored when --vllm-server-base-url is given"),
])
def test_vllm_server_mistakes_exit_2(workspace, capsys, flags, expect):
    assert main(["grpo", "train", "--dataset", "arithmetic_prompts", *flags]) == 2
    assert expect in capsys.readouterr().err


def test_a_dvc_remote_in_a_local_folder_carries_a_model_to_a_clone(tmp_path, tiny_model_path, monkeypatch):
    """docs/SCALE.md's DVC commands, run as written (the remote a local folder, as the docs' first line)."""
    import shlex
    import shutil

    from halo_forge.lineage.digests import model_digest
    from halo_forge.lineage.dvcrepo import dvc_env

    project, store = tmp_path / "my-project", tmp_path / "dvc-store"
    assert main(["init", str(project)]) == 0
    shutil.copytree(tiny_model_path, project / "models" / "sft")
    env = {**dvc_env(), "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.com"}

    def run(line: str, cwd: Path) -> None:
        args = shlex.split(line.replace("/mnt/shared/dvc-store", str(store)))
        if args[0] == "dvc":
            args = [sys.executable, "-m", "dvc", *args[1:]]
        subprocess.run(args, cwd=cwd, env=env, check=True, capture_output=True)

    for line in ("dvc remote add -d storage /mnt/shared/dvc-store", "dvc add models/sft",
                 "git add models/sft.dvc models/.gitignore .dvc/config", 'git commit -m "sft model"', "dvc push"):
        run(line, project)
    run(f"git clone {project} {tmp_path / 'clone'}", tmp_path)
    assert not (tmp_path / "clone" / "models" / "sft").exists()
    run("dvc pull", tmp_path / "clone")
    assert model_digest(tmp_path / "clone" / "models" / "sft") == model_digest(project / "models" / "sft")


def test_a_rank_stops_when_the_process_that_launched_it_is_killed(tmp_path, rows_file):
    """The flow's process killed with SIGKILL: its rank sees it, unwinds like Ctrl-C (its staging removed) and
    exits, so nothing is published that nobody would record. A real rank process (rank 0 of 1) and a real
    `kill -9` of the process it names as its launcher."""
    from halo_forge.orchestration.liveness import process_stamp
    from halo_forge.training import launch

    launcher = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    config = {"data": str(rows_file), "model": "halo-forge/tiny", "no_lora": True, "max_steps": 100000,
              "batch_size": 2, "logging_steps": 1, "checkpoint_every": 0, "output": str(tmp_path / "out")}
    spec = {"modality": "sft", "config": config, "run_id": "sft-2", "inputs_extra": {}, "data_file": None,
            "parent": {"pid": launcher.pid, "stamp": process_stamp(launcher.pid), "host": socket.gethostname()}}
    (tmp_path / launch.SPEC).write_text(json.dumps(spec))
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    rank = subprocess.Popen([sys.executable, "-m", "halo_forge.training.launch", str(tmp_path / launch.SPEC)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 240
        while not (tmp_path / launch.METRICS).exists():  # rank 0 has taken a step and relayed its loss
            assert rank.poll() is None and time.monotonic() < deadline, rank.stderr.read() if rank.poll() else "slow"
            time.sleep(0.2)
        assert (tmp_path / ".out.sft-2.partial").is_dir()
        launcher.kill()
        launcher.wait()
        rank.wait(timeout=60)
    finally:
        if rank.poll() is None:
            rank.kill()
    report = json.loads((tmp_path / "failure-0.json").read_text())
    assert rank.returncode == 1 and report["type"] == "KeyboardInterrupt"
    assert not (tmp_path / ".out.sft-2.partial").exists() and not (tmp_path / "out").exists()
