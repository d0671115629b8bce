"""Replay is bit-identical for every trainer: SFT (LoRA and full), DPO, ORPO, RM, GRPO, RAFT, VLM, audio and reasoning (SFT).

Each run trains here (in this process, whose RNG and string-hash history differ from a fresh one),
is recorded as the flow records it (inputs resolved as for the cache key, so the verifier identity is
the real one), then `halo-forge replay RUN` re-trains it in another process through `dvc repro` and
must print "identical". The full SFT run trains from a base model folder that a top-level DVC stage
of the workspace produces: the replay must run its own stage alone and leave that stage, and the
user's outputs, untouched. Tiny configs: ~2 minutes for the file on two CPU cores.
"""

from __future__ import annotations

import json
import shutil

import pytest

from halo_forge.cli.main import main
from halo_forge.lineage.digests import model_digest

PROMPTS = [{"prompt": f"What is {a}+{a + 3}?", "pattern": "[13579]", "answer": str(2 * a + 3)} for a in range(10, 30)]
SMALL = {"max_steps": 2, "logging_steps": 1, "max_eval_samples": 4, "eval_batch_size": 4, "seed": 3}
RL = {"verifiers": ["regex_format"], "max_completion_length": 4, "eval_max_new_tokens": 4, "eval_split": 0.2,
      "no_lora": True, "learning_rate": 1e-3, "temperature": 1.0}
PREF = {"dataset": "arithmetic_pref", "max_samples": 16, "batch_size": 4, "max_length": 64, "no_lora": True,
        "eval_max_new_tokens": 4}
RUNS = {
    "sft-lora": ("sft", {"dataset": "arithmetic", "max_samples": 32, "batch_size": 8, "eval_max_new_tokens": 4,
                         "lora_rank": 4}),
    "sft-full": ("sft", {"dataset": "arithmetic", "max_samples": 32, "batch_size": 8, "eval_max_new_tokens": 4,
                         "no_lora": True, "model": "models/base"}),
    "dpo": ("dpo", PREF),
    "orpo": ("orpo", PREF),
    "rm": ("rm", {k: v for k, v in PREF.items() if k != "eval_max_new_tokens"}),
    "grpo": ("grpo", {**RL, "data": "prompts.jsonl", "batch_size": 8, "num_generations": 4, "beta": 0.0}),
    "raft": ("raft", {**RL, "data": "prompts.jsonl", "batch_size": 4, "cycles": 2, "samples_per_prompt": 2,
                      "prompts_per_cycle": 8, "keep_percent": 0.5}),
    # rows that point at image and audio files: the recorded digest covers their bytes
    "vlm": ("vlm", {"dataset": "shapes", "max_samples": 16, "batch_size": 4, "no_lora": True, "eval_max_new_tokens": 2}),
    "audio": ("audio", {"dataset": "spoken_digits", "max_samples": 16, "batch_size": 8, "eval_max_new_tokens": 4}),
    "reasoning": ("reasoning", {"method": "sft", "dataset": "arithmetic_chains", "max_samples": 32, "batch_size": 8,
                                "max_length": 128, "eval_max_new_tokens": 4, "no_lora": True, "learning_rate": 1e-3}),
}
UPSTREAM = """stages:
  make_base:
    cmd: echo ran > upstream-ran && cp -r {tiny}/. models/base
    outs:
      - models/base
"""


@pytest.fixture(scope="module")
def recorded(tmp_path_factory, tiny_model_path):
    """A `halo-forge init` workspace with one recorded run per trainer (trained in this process)."""
    from halo_forge import registry
    from halo_forge.config import build_config
    from halo_forge.lineage.replay import record
    from halo_forge.orchestration.inputs import resolve_inputs
    from halo_forge.workspace import Workspace

    root = tmp_path_factory.mktemp("replay-all") / "ws"
    runs = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HALO_FORGE_WORKSPACE", str(root))
        mp.chdir(root.parent)
        assert main(["init", str(root)]) == 0
        mp.chdir(root)
        ws = Workspace(root)
        shutil.copytree(tiny_model_path, root / "models" / "base")  # what the top-level stage would make
        (root / "dvc.yaml").write_text(UPSTREAM.format(tiny=tiny_model_path))
        (root / "prompts.jsonl").write_text("".join(json.dumps(r) + "\n" for r in PROMPTS))
        for name, (modality, values) in RUNS.items():
            config = build_config(registry.config_class(modality),
                                  {**SMALL, **values, "output": str(root / "outputs" / name)})
            inputs = resolve_inputs(config, ws)
            trainer = registry.get_trainer(config)
            trainer.inputs_extra = inputs.lineage()
            trainer.quiet = True
            summary = trainer.train()
            assert summary.weights_updated, f"{name}: the weights did not move"
            record(ws, summary=summary, config=config, data_file=inputs.data_file, command=["test", name])
            runs[name] = summary
        yield ws, runs


@pytest.mark.parametrize("name", list(RUNS))
def test_replay_is_identical(recorded, name, monkeypatch, capsys):
    ws, runs = recorded
    monkeypatch.setenv("HALO_FORGE_WORKSPACE", str(ws.root))
    monkeypatch.chdir(ws.root)
    summary = runs[name]
    user_output = ws.root / "outputs" / name
    before = model_digest(str(user_output))
    rc = main(["replay", summary.run_id])
    out, err = capsys.readouterr()
    assert rc == 0, f"{name}: replay exit {rc}\n{out[-3000:]}\n{err[-2000:]}"
    assert "identical" in out
    if summary.inputs.verifier:  # GRPO/RAFT: the manifest's verifier identity is today's (no false drift)
        manifest = json.loads((ws.replay_dir / summary.run_id / "manifest.json").read_text())
        assert manifest["verifier"] == summary.inputs.verifier and "@sha256:" in manifest["verifier"]
    assert model_digest(str(user_output)) == before  # the user's outputs are never touched
    assert not (ws.root / "upstream-ran").exists(), "replay ran another stage of the workspace's dvc.yaml"


def test_lora_adapter_config_lists_its_modules_sorted(recorded):
    _, runs = recorded
    from pathlib import Path

    cfg = json.loads((Path(runs["sft-lora"].outputs.model_path) / "adapter_config.json").read_text())
    assert cfg["target_modules"] == sorted(cfg["target_modules"]) and len(cfg["target_modules"]) > 1
