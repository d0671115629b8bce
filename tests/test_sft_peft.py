"""SFT on the tiny model with every PEFT variant: real optimiser steps, a summary that says so, and an
output folder that loads back (on the *original* base model) into exactly the model that was trained."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from halo_forge.config import build_config
from halo_forge.errors import ConfigError
from halo_forge.sft.config import SFTConfig
from halo_forge.summary import SUMMARY_FILE, TrainingSummary

# PEFT warns at init that PiSSA/OLoRA rewrite the base weights; the trainer converts the saved adapter.
pytestmark = pytest.mark.filterwarnings("ignore:.*changes the base weights of the model:UserWarning")

MAX_STEPS = 3
RANK = 8
ALPHA = 16


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matmuls: extra threads only contend on a shared 2-core machine
    yield
    torch.set_num_threads(n)


@pytest.fixture
def recorded(monkeypatch):
    """Every SFTTrainer the run builds, with a copy of its trainable weights taken at construction."""
    import trl

    seen = []

    class Recording(trl.SFTTrainer):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.initial_trainable = {n: p.detach().clone() for n, p in self.model.named_parameters()
                                      if p.requires_grad}
            seen.append(self)

    monkeypatch.setattr(trl, "SFTTrainer", Recording)
    return seen


def _write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def sum_data(tmp_path_factory):
    rows = [{"prompt": f"What is {a}+{a + 3}?", "completion": str(2 * a + 3), "answer": str(2 * a + 3)}
            for a in range(10, 50)]
    return _write_jsonl(tmp_path_factory.mktemp("data") / "sums.jsonl", rows)


@pytest.fixture(scope="module")
def chat_data(tmp_path_factory):
    rows = [{"messages": [{"role": "system", "content": "Answer with a number."},
                          {"role": "user", "content": f"What is {a}+{a}?"},
                          {"role": "assistant", "content": str(2 * a)},
                          {"role": "user", "content": "And doubled?"},
                          {"role": "assistant", "content": str(4 * a)}]} for a in range(10, 50)]
    return _write_jsonl(tmp_path_factory.mktemp("data") / "chats.jsonl", rows)


@pytest.fixture(scope="module")
def chat_pc_data(tmp_path_factory):
    rows = [{"prompt": [{"role": "user", "content": f"What is {a}+{a}?"}],
             "completion": [{"role": "assistant", "content": str(2 * a)}]} for a in range(10, 50)]
    return _write_jsonl(tmp_path_factory.mktemp("data") / "chat_pc.jsonl", rows)


def _train(data: Path, output: Path, **extra):
    from halo_forge.sft._dispatch import get_sft_trainer

    cfg = build_config(SFTConfig, {
        "data": str(data), "output": str(output), "model": "halo-forge/tiny", "max_steps": MAX_STEPS,
        "batch_size": 4, "learning_rate": 1e-2, "lr_scheduler": "constant", "eval_split": 0.1,
        "eval_max_new_tokens": 4, "lora_rank": RANK, "lora_alpha": ALPHA, "seed": 0, **extra})
    trainer = get_sft_trainer(cfg)
    trainer.quiet = True
    return trainer.train()


def _logits(model, input_ids):
    import torch

    model.eval()
    with torch.no_grad():
        return model(input_ids=input_ids).logits


def _probe(tiny_model_path):
    import torch

    from halo_forge.models.loading import load_tokenizer

    tok = load_tokenizer(str(tiny_model_path))
    return torch.tensor([tok("What is 12+15? 27", add_special_tokens=False)["input_ids"]])


def _base_weights(tiny_model_path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(tiny_model_path / "model.safetensors"))


def _check_common(summary, out: Path, trainer, peft: str):
    import torch

    assert summary.total_train_steps_executed == MAX_STEPS
    assert summary.cycles[0].steps == MAX_STEPS
    assert summary.weights_updated is True
    assert summary.extra["weight_delta_l2"] > 0
    assert summary.extra["peft"] == peft
    assert summary.final_train_loss is not None and math.isfinite(summary.final_train_loss)
    on_disk = TrainingSummary.read(out / SUMMARY_FILE)
    assert on_disk.run_id == summary.run_id and on_disk.weights_updated
    assert on_disk.outputs.model_path == str(out.resolve())
    assert not list(out.glob("checkpoint-*")) and not (out / "initial_adapter").exists()
    assert not list(out.parent.glob(f".{out.name}.*"))  # staging folder published, nothing left behind
    # the trainable weights really moved (independently of the summary's own snapshot)
    moved = [n for n, p in trainer.model.named_parameters()
             if n in trainer.initial_trainable and not torch.allclose(p.detach(), trainer.initial_trainable[n])]
    assert moved, "no trainable weight changed"
    assert trainer.state.global_step == MAX_STEPS


LORA_VARIANTS = [
    # id, extra config, summary peft, converted to plain LoRA of rank 2r on save
    ("lora", {}, "lora", False),
    ("dora", {"use_dora": True}, "dora", False),
    ("rslora", {"use_rslora": True}, "lora", False),
    ("init-pissa", {"init_lora_weights": "pissa"}, "lora", True),
    ("init-olora", {"init_lora_weights": "olora"}, "lora", True),
    ("init-gaussian", {"init_lora_weights": "gaussian"}, "lora", False),
    ("init-true", {"init_lora_weights": "true"}, "lora", False),
    ("init-false", {"init_lora_weights": "false"}, "lora", False),
    ("rslora-pissa", {"use_rslora": True, "init_lora_weights": "pissa"}, "lora", True),
    ("dora-pissa", {"use_dora": True, "init_lora_weights": "pissa"}, "dora", False),
]


@pytest.mark.parametrize("extra,peft,converted", [v[1:] for v in LORA_VARIANTS], ids=[v[0] for v in LORA_VARIANTS])
def test_lora_variants_train_and_reload(extra, peft, converted, tmp_path, sum_data, recorded, tiny_model_path):
    import torch
    from safetensors.torch import load_file

    from halo_forge.models.loading import adapter_base, load_causal_lm

    out = tmp_path / "out"
    summary = _train(sum_data, out, **extra)
    (trainer,) = recorded
    _check_common(summary, out, trainer, peft)
    assert summary.extra["use_rslora"] == extra.get("use_rslora", False)
    assert summary.extra["init_lora_weights"] == extra.get("init_lora_weights", "true")
    assert summary.outputs.adapter is True

    # only LoRA weights were trained
    assert trainer.initial_trainable and all("lora_" in n for n in trainer.initial_trainable)
    files = {p.name for p in out.iterdir()}
    assert {"adapter_config.json", "adapter_model.safetensors", SUMMARY_FILE, "tokenizer.json"} <= files
    assert "config.json" not in files and "model.safetensors" not in files

    acfg = json.loads((out / "adapter_config.json").read_text())
    assert acfg["base_model_name_or_path"] == "halo-forge/tiny"  # portable: not this machine's cache path
    assert adapter_base(str(out)) == "halo-forge/tiny"
    assert acfg["use_dora"] == extra.get("use_dora", False)
    assert acfg["use_rslora"] == extra.get("use_rslora", False)
    if converted:  # PiSSA/OLoRA rewrote the base: saved as a plain LoRA of rank 2r for the original base
        assert acfg["init_lora_weights"] is True
        assert acfg["r"] == 2 * RANK
    else:
        assert acfg["r"] == RANK

    # the output folder loads (on the original base, merged) into exactly the model that was trained
    probe = _probe(tiny_model_path)
    trained = _logits(trainer.model, probe)
    loaded = load_causal_lm(str(out))
    assert type(loaded).__name__ == "LlamaForCausalLM"  # merged: no PEFT wrapper left
    assert torch.allclose(_logits(loaded, probe), trained, atol=1e-4), "saved adapter != trained model"
    base = _base_weights(tiny_model_path)
    merged = loaded.state_dict()
    changed = [k for k in base if not torch.allclose(base[k], merged[k])]
    assert changed and all(k.endswith("_proj.weight") for k in changed)  # only adapted linears moved

    if not acfg["use_dora"]:
        # independently: W0 + scale * B @ A from the files reproduces the merged weights, so the adapter
        # is a plain LoRA on the *original* base (fails for an unconverted PiSSA/OLoRA adapter)
        adapter = load_file(str(out / "adapter_model.safetensors"))
        scale = acfg["lora_alpha"] / (math.sqrt(acfg["r"]) if acfg["use_rslora"] else acfg["r"])
        a_keys = [k for k in adapter if k.endswith("lora_A.weight")]
        assert len(a_keys) == len(changed) == 4 * 7  # q k v o gate up down in each of the 4 layers
        for a_key in a_keys:
            b_key = a_key.replace("lora_A", "lora_B")
            w_key = a_key.removeprefix("base_model.model.").replace(".lora_A.weight", ".weight")
            expect = base[w_key] + scale * adapter[b_key] @ adapter[a_key]
            assert torch.allclose(expect, merged[w_key], atol=1e-5), w_key


def test_full_finetune(tmp_path, sum_data, recorded, tiny_model_path):
    import torch
    from safetensors.torch import load_file

    from halo_forge.models.loading import load_causal_lm

    out = tmp_path / "out"
    summary = _train(sum_data, out, no_lora=True)
    (trainer,) = recorded
    _check_common(summary, out, trainer, "full")
    assert summary.outputs.adapter is False
    assert not any("lora_" in n for n in trainer.initial_trainable)
    n_params = sum(p.numel() for p in trainer.model.parameters())
    assert sum(p.numel() for p in trainer.initial_trainable.values()) == n_params  # every weight trained
    files = {p.name for p in out.iterdir()}
    assert {"config.json", "model.safetensors", SUMMARY_FILE, "tokenizer.json"} <= files
    assert "adapter_config.json" not in files

    base, saved = _base_weights(tiny_model_path), load_file(str(out / "model.safetensors"))
    assert base.keys() == saved.keys()
    assert sum(not torch.equal(base[k], saved[k]) for k in base) > len(base) // 2
    probe = _probe(tiny_model_path)
    assert torch.allclose(_logits(load_causal_lm(str(out)), probe), _logits(trainer.model, probe), atol=1e-5)


def test_loftq_refused_clearly_without_gpu_and_bitsandbytes(tmp_path, sum_data):
    from halo_forge.backend import capabilities, get_backend
    from halo_forge.sft._dispatch import get_sft_trainer

    caps = capabilities(get_backend("auto"))
    if caps.gpu and caps.bitsandbytes:
        pytest.skip("this machine can run LoftQ")
    values = {"data": str(sum_data), "output": str(tmp_path / "out"), "init_lora_weights": "loftq", "max_steps": 1}
    with pytest.raises(ConfigError, match=r"--init-lora-weights \(got 'loftq'\): needs") as exc:
        build_config(SFTConfig, values)  # the CLI's path: refused with the config's other problems
    assert "bitsandbytes" in str(exc.value) and "pissa" in str(exc.value)
    with pytest.raises(ConfigError, match=r"--init-lora-weights \(got 'loftq'\): needs"):
        get_sft_trainer(SFTConfig(**values))  # the Python API's path: refused before anything is built
    assert not (tmp_path / "out").exists()


def _labelled_text(trainer, row_index=0):
    batch = trainer.data_collator([trainer.train_dataset[row_index]])
    ids, labels = batch["input_ids"][0], batch["labels"][0]
    tok = trainer.processing_class
    return tok.decode(ids), tok.decode(ids[labels != -100])


@pytest.mark.parametrize("train_on_prompt", [False, True], ids=["assistant-only", "train-on-prompt"])
def test_chat_messages_assistant_only_loss(train_on_prompt, tmp_path, chat_data, recorded):
    summary = _train(chat_data, tmp_path / "out", train_on_prompt=train_on_prompt)
    (trainer,) = recorded
    _check_common(summary, tmp_path / "out", trainer, "lora")
    assert summary.extra["data_format"] == "messages"
    assert trainer.args.assistant_only_loss is (not train_on_prompt)
    assert trainer.args.completion_only_loss is (not train_on_prompt)
    assert not any("generation" in n for n in summary.extra["notes"])  # the tiny template has the markers
    row = trainer.train_dataset[0]["messages"]
    full, learned = _labelled_text(trainer)
    if train_on_prompt:
        assert learned == full
    else:
        replies = [m["content"] for m in row if m["role"] == "assistant"]
        assert len(replies) == 2
        assert learned == "".join(f"{r}<|im_end|>" for r in replies)  # both replies, nothing of the prompts


@pytest.mark.parametrize("train_on_prompt", [False, True], ids=["completion-only", "train-on-prompt"])
def test_chat_prompt_completion_completion_only_loss(train_on_prompt, tmp_path, chat_pc_data, recorded):
    summary = _train(chat_pc_data, tmp_path / "out", train_on_prompt=train_on_prompt)
    (trainer,) = recorded
    _check_common(summary, tmp_path / "out", trainer, "lora")
    assert trainer.args.completion_only_loss is (not train_on_prompt)
    assert trainer.args.assistant_only_loss is False
    full, learned = _labelled_text(trainer)
    reply = trainer.train_dataset[0]["completion"][0]["content"]
    if train_on_prompt:
        assert learned == full
    else:
        assert learned.startswith(f"{reply}<|im_end|>") and "What is" not in learned
        assert full.startswith("<|im_start|>user\nWhat is")


def test_output_refuses_to_clobber_and_overwrites_when_asked(tmp_path, sum_data, recorded):
    from halo_forge.errors import OutputError

    out = tmp_path / "out"
    first = _train(sum_data, out, max_steps=1)
    with pytest.raises(OutputError, match="already holds"):
        _train(sum_data, out, max_steps=1)
    assert TrainingSummary.read(out / SUMMARY_FILE).run_id == first.run_id
    second = _train(sum_data, out, max_steps=1, overwrite=True)
    assert TrainingSummary.read(out / SUMMARY_FILE).run_id == second.run_id
