"""SFT on MLX: our rows tokenised as TRL tokenises them, the completion-only loss, LoRA through mlx-lm whose every
adapter weight moves (with and without mx.compile), a full fine-tune, adapters in mlx-lm's format with their
config, and the conversion to a PEFT adapter and back."""

from __future__ import annotations

import functools
import json
import tempfile

import numpy as np
import pytest

from mlx_micro import micro_model_folder

CHAT_ROWS = [{"prompt": [{"role": "user", "content": f"What is {a}+{b}?"}],
              "completion": [{"role": "assistant", "content": f"The answer is {a + b}"}]} for a, b in ((12, 34), (7, 5))]
TEXT_ROWS = [{"prompt": "What is 4+4? ", "completion": "8"}, {"prompt": "What is 14+4? ", "completion": "18"}]
MESSAGE_ROWS = [{"messages": [{"role": "user", "content": "What is 1+2?"}, {"role": "assistant", "content": "3"},
                              {"role": "user", "content": "And 2+2?"}, {"role": "assistant", "content": "4"}]}]


@pytest.mark.parametrize("rows,assistant_only", [(CHAT_ROWS, False), (TEXT_ROWS, False), (MESSAGE_ROWS, True)],
                         ids=["chat-prompt-completion", "text-prompt-completion", "messages"])
def test_rows_tokenise_as_trl_sft_does(rows, assistant_only):
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    from halo_forge.mlx.tokenize import sft_example

    folder = micro_model_folder()
    tok = AutoTokenizer.from_pretrained(folder)
    args = SFTConfig(output_dir=tempfile.mkdtemp(), completion_only_loss=True, assistant_only_loss=assistant_only,
                     use_cpu=True, report_to=[], bf16=False, max_length=64)
    trainer = SFTTrainer(model=AutoModelForCausalLM.from_pretrained(folder), args=args,
                         train_dataset=Dataset.from_list(rows), processing_class=tok)
    for i, row in enumerate(rows):
        ids, mask = sft_example(row, tok, max_length=64)
        trl_row = trainer.train_dataset[i]
        assert ids == trl_row["input_ids"]
        assert mask == [int(label != -100) for label in trl_row["labels"]]
        assert 0 < sum(mask) < len(mask)


def test_sft_loss_is_mlx_lm_default_loss():
    import mlx.core as mx
    from mlx_lm.tuner.trainer import default_loss

    from halo_forge.mlx import steps, tokenize, weights

    model, tok = weights.load(str(micro_model_folder()))
    examples = [tokenize.sft_example(r, tok) for r in CHAT_ROWS]
    tokens, mask = tokenize.sft_batch(examples, tok.pad_token_id)
    lengths = mx.array([[ex[1].index(1), len(ex[0]) - 1] for ex in examples])  # mlx-lm: (offset, length)
    ours, n_ours = steps.sft_loss(model, tokens, mask)
    theirs, n_theirs = default_loss(model, tokens, lengths)
    assert int(n_ours) == int(n_theirs) and abs(float(ours) - float(theirs)) < 1e-6


@functools.cache
def trained_lora(compile: bool):
    """The micro model with mlx-lm LoRA after 3 optimiser steps; the gradients of steps 1 and 2."""
    from halo_forge.mlx import lora, runtime, steps, tokenize, weights

    runtime.seed(0)
    model, tok = weights.load(str(micro_model_folder()))
    config = lora.apply_lora(model, rank=4, alpha=8, targets="all-linear")
    start = {k: np.array(v) for k, v in lora.lora_weights(model).items()}
    frozen = {k: np.array(v) for k, v in weights.weights_of(model).items() if k not in start}
    step = steps.make_train_step(model, steps.make_optimizer(lr=1e-2, total_steps=3, schedule="constant"),
                                 steps.sft_loss, compile=compile)
    batch = tokenize.sft_batch([tokenize.sft_example(r, tok) for r in CHAT_ROWS], tok.pad_token_id)
    results = [step([batch]) for _ in range(3)]
    return model, tok, config, start, frozen, results


@pytest.mark.parametrize("compile", [False, True], ids=["eager", "mx.compile"])
def test_every_lora_weight_moves_and_the_base_stays(compile):
    from halo_forge.mlx import lora, weights

    model, _, config, start, frozen, results = trained_lora(compile)
    now = lora.lora_weights(model)
    assert len(start) == 2 * 2 * 7  # 2 layers x 7 linears x (A, B)
    unchanged = [k for k in start if np.array_equal(start[k], np.array(now[k]))]
    assert not unchanged, f"LoRA weights that did not move: {unchanged}"
    assert all(np.array_equal(frozen[k], np.array(v)) for k, v in weights.weights_of(model).items() if k in frozen)
    assert results[-1].loss < results[0].loss
    grads1 = dict(_flat(results[0].grads))
    grads2 = dict(_flat(results[1].grads))
    # step 1: B starts at zero, so only B has a gradient; from step 2 every LoRA matrix has one
    assert all(np.abs(np.array(g)).sum() > 0 for k, g in grads1.items() if k.endswith("lora_b"))
    assert all(np.abs(np.array(g)).sum() > 0 for g in grads2.values()), "zero LoRA gradients"
    assert set(grads2) == set(start)


def test_compiled_and_eager_steps_agree():
    eager, compiled = trained_lora(False)[5], trained_lora(True)[5]
    assert [r.loss for r in eager] == pytest.approx([r.loss for r in compiled], abs=1e-5)


def _flat(tree):
    from mlx.utils import tree_flatten

    return tree_flatten(tree)


def test_full_fine_tune_moves_every_weight():
    from halo_forge.mlx import lora, steps, tokenize, weights

    model, tok = weights.load(str(micro_model_folder()))
    config = lora.prepare_full(model)
    start = {k: np.array(v) for k, v in weights.weights_of(model).items()}
    assert set(lora.trainable_weights(model)) == set(start) and config["fine_tune_type"] == "full"
    step = steps.make_train_step(model, steps.make_optimizer(lr=1e-3, total_steps=2), steps.sft_loss, compile=False)
    step([tokenize.sft_batch([tokenize.sft_example(r, tok) for r in TEXT_ROWS], tok.pad_token_id)])
    moved = {k for k, v in weights.weights_of(model).items() if not np.array_equal(start[k], np.array(v))}
    assert moved == set(start)


def test_adapter_saves_in_mlx_lm_format_and_converts_to_peft_and_back(tmp_path):
    import mlx.core as mx
    import mlx_lm
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from halo_forge.mlx import lora, peft_convert

    model, tok, config, *_ = trained_lora(False)
    folder = micro_model_folder()
    lora.save_adapter(model, tmp_path / "mlx", config, base_model=str(folder))
    saved = json.loads((tmp_path / "mlx" / "adapter_config.json").read_text())
    assert saved["fine_tune_type"] == "lora" and saved["lora_parameters"]["rank"] == 4
    ids = tok.apply_chat_template(CHAT_ROWS[0]["prompt"], add_generation_prompt=True)
    expected = np.array(model(mx.array([ids])))
    reloaded, _ = mlx_lm.load(str(folder), adapter_path=str(tmp_path / "mlx"))  # mlx-lm's own loader
    assert np.abs(np.array(reloaded(mx.array([ids]))) - expected).max() < 1e-6

    peft_convert.mlx_to_peft(tmp_path / "mlx", tmp_path / "peft", base_model=str(folder))
    peft_model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(folder), tmp_path / "peft").eval()
    with torch.no_grad():
        torch_logits = peft_model(torch.tensor([ids])).logits.numpy()
    assert np.abs(torch_logits - expected).max() < 1e-4
    assert np.abs(torch_logits - np.array(mlx_lm.load(str(folder))[0](mx.array([ids])))).max() > 1e-3  # it matters

    peft_convert.peft_to_mlx(tmp_path / "peft", tmp_path / "back")
    a, b = mx.load(str(tmp_path / "mlx" / "adapters.safetensors")), mx.load(str(tmp_path / "back" / "adapters.safetensors"))
    assert a.keys() == b.keys() and all(np.array_equal(np.array(a[k]), np.array(b[k])) for k in a)
    back_cfg = json.loads((tmp_path / "back" / "adapter_config.json").read_text())
    assert back_cfg["lora_parameters"] == saved["lora_parameters"]


def test_adapters_disabled_is_the_frozen_base():
    """The DPO/GRPO reference of a LoRA run: the same model with its adapters switched off, then on again."""
    import mlx.core as mx
    import mlx_lm

    from halo_forge.mlx import lora

    model, tok, *_ = trained_lora(False)
    ids = mx.array([tok.apply_chat_template(CHAT_ROWS[1]["prompt"], add_generation_prompt=True)])
    adapted = np.array(model(ids))
    base = np.array(mlx_lm.load(str(micro_model_folder()))[0](ids))
    with lora.adapters_disabled(model):
        assert np.array_equal(np.array(model(ids)), base)
    assert np.array_equal(np.array(model(ids)), adapted) and not np.allclose(adapted, base)
