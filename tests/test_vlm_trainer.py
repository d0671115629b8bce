"""`halo-forge vlm train` for real: each method (sft, grpo, raft) takes optimiser steps on the tiny LLaVA
through the CLI and the flow and moves its weights; freezing and LoRA reach the model; bad rows, images and
flags exit 2 with a message naming the row or flag and the fix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from halo_forge.cli.main import main
from halo_forge.summary import TrainingSummary

# LLaVA reads the vision tower's last hidden state before its post-layernorm: no loss reaches that layer.
UNREACHED = ("model.vision_tower.vision_model.post_layernorm.", "model.vision_tower.post_layernorm.")
SMALL = ["--dataset", "shapes", "--max-samples", "16", "--max-eval-samples", "8", "--max-steps", "2",
         "--batch-size", "4", "--learning-rate", "1e-3", "--logging-steps", "1", "--eval-max-new-tokens", "3",
         "--seed", "0"]
# a random-init model never answers right: for GRPO, a reward with variance (its answer has a letter a-m)
VARIED = ["--verifier", "regex_format", "--verifier-arg", "pattern=.*[a-m]"]


@pytest.fixture()
def workspace(tmp_path, monkeypatch):
    monkeypatch.setenv("HALO_FORGE_WORKSPACE", str(tmp_path / "ws"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _weights(folder) -> dict:
    from halo_forge.models.vlm import load_model

    return {k: v.detach().clone() for k, v in load_model(str(folder)).named_parameters()}


def _unchanged(before: dict, after: dict) -> list[str]:
    return [k for k in before if bool((before[k] == after[k]).all())]


@pytest.fixture(scope="module")
def start_weights():
    from halo_forge.models.tiny import ensure_tiny

    return _weights(ensure_tiny("halo-forge/tiny-llava"))


@pytest.mark.parametrize("method, flags", [
    ("sft", []),
    ("grpo", ["--num-generations", "4", "--max-completion-length", "3", *VARIED]),
    ("raft", ["--cycles", "1", "--samples-per-prompt", "2", "--max-completion-length", "3", *VARIED]),
])
def test_each_method_takes_real_steps_through_the_flow(workspace, start_weights, method, flags):
    out = workspace / method
    assert main(["vlm", "train", "--method", method, "--no-lora", "--output", str(out), *SMALL, *flags]) == 0
    s = TrainingSummary.read(out)
    assert s.modality == "vlm" and s.extra["method"] == method and s.weights_updated
    assert s.total_train_steps_executed >= 2 and s.final_train_loss is not None
    assert s.effectiveness.evaluation.metric == "heldout_accuracy" and s.effectiveness.evaluation.n == 8
    assert s.extra["train_images"] == 16 and "verifier_breakdown" in s.extra["heldout_details"]["after"]
    assert s.inputs.dataset_digest.startswith("sha256:") and s.inputs.cache_key
    still = _unchanged(start_weights, _weights(out))
    if method == "grpo":  # a policy gradient from 2 steps of 4 samples moves most, not all, weights
        assert len(still) < len(start_weights) // 2, still
    else:  # every weight a loss reaches moved
        assert still and all(k.startswith(UNREACHED) for k in still), still
    if method == "raft":
        assert s.cycles[0].generated == 32 and s.cycles[0].kept > 0 and s.yield_diagnostics["status"]


def test_freezing_keeps_the_vision_tower_and_projector_fixed(workspace, start_weights):
    out = workspace / "frozen"
    assert main(["vlm", "train", "--no-lora", "--freeze-vision-tower", "--freeze-projector", "--output", str(out),
                 *SMALL]) == 0
    s = TrainingSummary.read(out)
    still = _unchanged(start_weights, _weights(out))
    frozen = [k for k in start_weights if k.startswith(("model.vision_tower.", "model.multi_modal_projector."))]
    assert set(frozen) <= set(still) and s.weights_updated
    assert not [k for k in still if k not in frozen]  # the language model moved
    assert s.extra["freeze"] == {"vision_tower": True, "projector": True}
    assert s.extra["trainable_parameters"] == sum(v.numel() for k, v in start_weights.items() if k not in frozen)


def test_lora_skips_the_frozen_tower_and_the_adapter_loads_on_the_base(workspace):
    from safetensors.torch import load_file

    from halo_forge.models.vlm import load_model

    out = workspace / "lora"
    assert main(["vlm", "train", "--lora-rank", "4", "--freeze-vision-tower", "--output", str(out), *SMALL]) == 0
    s = TrainingSummary.read(out)
    assert s.outputs.adapter and s.weights_updated
    adapted = list(load_file(str(out / "adapter_model.safetensors")))
    assert adapted and not [k for k in adapted if ".vision_tower." in k]
    assert any(".multi_modal_projector." in k for k in adapted) and any(".language_model." in k for k in adapted)
    assert json.loads((out / "adapter_config.json").read_text())["base_model_name_or_path"] == "halo-forge/tiny-llava"
    merged = load_model(str(out))  # an adapter folder loads as its base with the adapter merged
    assert not any("lora_" in k for k, _ in merged.named_parameters())


def _rows(folder: Path, rows: list[dict]) -> Path:
    from PIL import Image

    Image.new("RGB", (32, 32), "white").save(folder / "ok.png")
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"not really a png" * 10)
    good = [{"question": "How many?", "answer": str(i % 3), "image": "ok.png"} for i in range(6)]
    data = folder / "rows.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in good + rows))
    return data


@pytest.mark.parametrize("bad, expect", [
    ({"question": "q", "answer": "1", "image": "imgs/nope.png"},
     "rows.jsonl:7 (image[0]): image file 'imgs/nope.png' does not exist (looked for {dir}/imgs/nope.png)\n"
     "  fix: fix the path in column 'image'; relative paths are read from the data file's folder ({dir})"),
    ({"question": "q", "answer": "1", "image": "broken.png"},
     "rows.jsonl:7 (images[0]): cannot read image '{dir}/broken.png'"),
    ({"messages": [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "q"}]},
                   {"role": "assistant", "content": "1"}]},
     'rows.jsonl:7: the row has 1 {{"type": "image"}} part(s) but no image\n'
     '  fix: add the image path in an "image" column (or a list in "images"), or drop the image part'),
])
def test_bad_rows_exit_2_naming_the_line_and_the_fix(workspace, capsys, bad, expect):
    data = _rows(workspace, [bad])
    assert main(["vlm", "train", "--data", str(data), "--output", str(workspace / "o")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("Error: ") and expect.format(dir=workspace) in err, err
    assert not (workspace / "o").exists()


def test_rows_without_what_the_verifier_reads_are_named(workspace, capsys):
    data = _rows(workspace, [{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}],
                              "image": "ok.png"}])
    assert main(["vlm", "train", "--data", str(data), "--method", "grpo", "--output", str(workspace / "o")]) == 2
    assert "rows.jsonl:7: row is missing field 'answer' that verifier 'vqa' needs" in capsys.readouterr().err


@pytest.mark.parametrize("flags, expect", [
    (["--num-generations", "2"], "--num-generations (got 2): applies to --method grpo; this run is --method sft"),
    (["--method", "grpo", "--cycles", "2"], "--cycles (got 2): applies to --method raft; this run is --method grpo"),
    (["--method", "raft", "--checkpoint-every", "5"], "--checkpoint-every (got 5): applies to --method sft or grpo"),
    (["--method", "grpo", "--batch-size", "6"], "--batch-size (got 6): not a multiple of --num-generations 4"),
    (["--rollout-engine", "vllm", "--method", "grpo"], "--rollout-engine (got 'vllm'): Input should be 'auto' or 'torch'"),
    (["--dataset", "gsm8k"], "unknown dataset short name 'gsm8k'"),
])
def test_bad_flags_exit_2(workspace, capsys, flags, expect):
    assert main(["vlm", "train", "--dataset", "shapes", "--output", str(workspace / "o"), *flags]) == 2
    assert expect in capsys.readouterr().err


def test_datasets_lists_the_built_in_and_hub_sets(capsys):
    assert main(["vlm", "datasets"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in ("shapes", "charts", "ocr", "invoices", "chartqa", "docvqa", "textvqa"))
