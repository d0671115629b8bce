"""The VLM training path before it is wired into a trainer: TRL's SFTTrainer and GRPOTrainer take real
steps on the tiny LLaVA with its processor and image rows, and the weights move."""

from __future__ import annotations

import pytest

from halo_forge.data import vision
from halo_forge.models.vlm import load_vlm
from halo_forge.verifiers import get_verifier

NAME = "halo-forge/tiny-llava"
# With vision_feature_layer=-1 LLaVA reads the tower's last hidden state, before its post-layernorm.
UNUSED = ("model.vision_tower.vision_model.post_layernorm.", "model.vision_tower.post_layernorm.")


@pytest.fixture(scope="module")
def rows():
    train, _ = vision.load_builtin("shapes")
    return vision.load_images(train[:16], lambda i: f"shapes[{i}]")


def _snapshot(model):
    return {k: v.detach().clone() for k, v in model.named_parameters() if v.requires_grad}


def _unchanged(model, before):
    return [k for k, v in model.named_parameters() if k in before and bool((v == before[k]).all())]


def _common(tmp_path):
    return dict(output_dir=str(tmp_path), max_steps=3, learning_rate=1e-3, logging_steps=1, save_strategy="no",
                report_to=[], use_cpu=True, bf16=False, gradient_checkpointing=False, disable_tqdm=True, seed=0)


def test_sft_on_image_rows_uses_the_vision_collator_and_moves_weights(rows, tmp_path):
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer
    from trl.trainer.sft_trainer import DataCollatorForVisionLanguageModeling

    model, proc = load_vlm(NAME)
    before = _snapshot(model)
    ds = Dataset.from_list([{k: r[k] for k in ("prompt", "completion", "images")} for r in rows])
    trainer = SFTTrainer(model=model, processing_class=proc, train_dataset=ds,
                         args=SFTConfig(per_device_train_batch_size=4, max_length=None, **_common(tmp_path)))
    assert isinstance(trainer.data_collator, DataCollatorForVisionLanguageModeling)
    batch = trainer.data_collator([dict(ds[0])])
    assert "pixel_values" in batch and int((batch["labels"][0] != -100).sum()) == 3  # answer, <|im_end|>, \n
    trainer.train()
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    assert len(losses) == 3 and all(loss > 0 for loss in losses)
    still = _unchanged(model, before)
    assert still and all(k.startswith(UNUSED) for k in still), still
    assert not any(k.startswith("model.vision_tower.") and not k.startswith(UNUSED) for k in still)


@pytest.mark.parametrize("flag", ["packing", "padding_free"])
def test_trl_refuses_packing_and_padding_free_for_image_rows(rows, tmp_path, flag):
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    model, proc = load_vlm(NAME)
    ds = Dataset.from_list([{k: r[k] for k in ("prompt", "completion", "images")} for r in rows[:2]])
    with pytest.raises(ValueError, match="not supported for vision datasets"):
        SFTTrainer(model=model, processing_class=proc, train_dataset=ds,
                   args=SFTConfig(per_device_train_batch_size=2, max_length=128, **{flag: True}, **_common(tmp_path)))


def test_assistant_only_loss_works_for_image_chats(rows, tmp_path):
    """TRL 1.16 with transformers >= 5.18 accepts assistant-only loss on image chats (the tiny VLM's
    template has {% generation %} markers): only the reply is trained on."""
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    model, proc = load_vlm(NAME)
    ds = Dataset.from_list([{"messages": r["prompt"] + r["completion"], "images": r["images"]} for r in rows[:4]])
    trainer = SFTTrainer(model=model, processing_class=proc, train_dataset=ds,
                         args=SFTConfig(per_device_train_batch_size=2, max_length=None, assistant_only_loss=True,
                                        **{**_common(tmp_path), "max_steps": 1}))
    batch = trainer.data_collator([dict(ds[0])])
    trained = batch["labels"][0][batch["labels"][0] != -100]
    assert proc.tokenizer.decode(trained) == rows[0]["answer"] + "<|im_end|>"
    trainer.train()


def test_grpo_takes_image_prompts_from_the_images_column(rows, tmp_path):
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    model, proc = load_vlm(NAME)
    before = _snapshot(model)
    seen: list[int] = []
    vqa = get_verifier("vqa")

    def reward(completions, answer, **kw):
        seen.append(len(completions))
        texts = [c[0]["content"] for c in completions]
        exact = [r.reward for r in vqa.verify_batch(texts, [{"answer": a} for a in answer])]
        # a random-init model is never right: add a text-dependent term so advantages are non-zero
        return [e + (sum(ch.isalnum() for ch in t) % 7) / 7 for e, t in zip(exact, texts)]

    ds = Dataset.from_list([{"prompt": r["prompt"], "images": r["images"], "answer": r["answer"]} for r in rows[:8]])
    args = GRPOConfig(per_device_train_batch_size=4, num_generations=4, max_completion_length=4, beta=0.0,
                      temperature=1.0, **_common(tmp_path))
    trainer = GRPOTrainer(model=model, processing_class=proc, reward_funcs=reward, train_dataset=ds, args=args)
    trainer.train()
    assert seen and all(n == 4 for n in seen)
    still = _unchanged(model, before)
    assert len(still) < len(before) // 2, still  # the policy gradient reached the language model and the tower
    assert any(k.startswith("model.vision_tower.") and k not in still for k in before)
