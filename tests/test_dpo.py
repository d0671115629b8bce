"""DPO: every loss type against its closed form on fixed log-probabilities (driven through the real
TRL trainer's loss), the reference-free precompute, and a few real optimiser steps per loss type."""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace

import pytest

from halo_forge.config import build_config
from halo_forge.dpo.config import DPOConfig
from halo_forge.summary import SUMMARY_FILE, TrainingSummary

BETA = 0.3


def _write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def pairs(tmp_path_factory) -> Path:
    rows = [{"prompt": [{"role": "user", "content": f"What is {a}+{a + 3}?"}],
             "chosen": [{"role": "assistant", "content": str(2 * a + 3)}],
             "rejected": [{"role": "assistant", "content": str(2 * a + 13)}],
             "answer": str(2 * a + 3)} for a in range(10, 30)]
    return _write_jsonl(tmp_path_factory.mktemp("pairs") / "pairs.jsonl", rows)


def _config(data: Path, out: Path, **extra) -> DPOConfig:
    return build_config(DPOConfig, {
        "data": str(data), "output": str(out), "model": "halo-forge/tiny", "max_steps": 2, "batch_size": 4,
        "learning_rate": 5e-3, "lr_scheduler": "constant", "eval_split": 0.2, "eval_max_new_tokens": 3,
        "logging_steps": 1, "beta": BETA, "seed": 0, "max_length": 64, **extra})


def _trl_trainer(data: Path, tmp_path: Path, **extra):
    """The halo-forge DPO trainer's TRL trainer, built but not trained."""
    from halo_forge.data.preference import load_preference_data
    from halo_forge.dpo._dispatch import get_dpo_trainer
    from halo_forge.models.loading import load_tokenizer, resolve_model

    cfg = _config(data, tmp_path / "out", **extra)
    run = get_dpo_trainer(cfg)
    ref = resolve_model(cfg.model)
    tok = load_tokenizer(ref)
    data_rows = load_preference_data(cfg)
    return run.build(data_rows, tok, ref, tmp_path / "staging"), data_rows, tok


# --- fixed log-probabilities ------------------------------------------------------------------
# 3 pairs; completion lengths (tokens) chosen 2, 3, 1 and rejected 3, 1, 2 inside a width-5 row.
CHOSEN_TOKENS = [[-0.5, -0.25], [-1.0, -0.5, -0.125], [-2.0]]
REJECTED_TOKENS = [[-0.75, -1.5, -0.5], [-0.25], [-1.25, -3.0]]
REF_CHOSEN = [-1.0, -1.5, -1.5]
REF_REJECTED = [-2.0, -0.5, -4.5]


def _fixed_inputs():
    import torch

    width = 5
    rows = CHOSEN_TOKENS + REJECTED_TOKENS
    log_probs = torch.zeros(len(rows), width - 1)
    completion_mask = torch.zeros(len(rows), width, dtype=torch.long)
    for i, toks in enumerate(rows):  # completions right-aligned: prompt token(s) first
        start = width - len(toks)
        completion_mask[i, start:] = 1
        log_probs[i, start - 1:] = torch.tensor(toks)
    log_probs.requires_grad_(True)
    out = SimpleNamespace(log_probs=log_probs, entropy=torch.zeros_like(log_probs),
                          mean_logits=torch.zeros_like(log_probs), is_top1=torch.zeros_like(log_probs, dtype=torch.bool),
                          aux_loss=None)
    inputs = {"input_ids": torch.zeros(len(rows), width, dtype=torch.long),
              "attention_mask": torch.ones(len(rows), width, dtype=torch.long),
              "completion_mask": completion_mask,
              "ref_chosen_logps": torch.tensor(REF_CHOSEN), "ref_rejected_logps": torch.tensor(REF_REJECTED)}
    return (lambda **kw: out), inputs, log_probs


def _logsig(x: float) -> float:
    return -math.log1p(math.exp(-x))


def _sig(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def _hand(loss_type: str, label_smoothing: float = 0.0, rpo_alpha: float = 1.0) -> float:
    """The closed form of each loss, by hand, on the fixed log-probabilities above."""
    pc = [sum(t) for t in CHOSEN_TOKENS]
    pr = [sum(t) for t in REJECTED_TOKENS]
    cw = [p - r for p, r in zip(pc, REF_CHOSEN)]  # chosen log-ratios
    cl = [p - r for p, r in zip(pr, REF_REJECTED)]  # rejected log-ratios
    d = [w - l for w, l in zip(cw, cl)]
    n = len(d)
    e = label_smoothing
    mean = lambda xs: sum(xs) / len(xs)  # noqa: E731
    sigmoid = mean([-(1 - e) * _logsig(BETA * x) - e * _logsig(-BETA * x) for x in d])
    if loss_type == "sigmoid":
        return sigmoid
    if loss_type == "hinge":
        return mean([max(0.0, 1 - BETA * x) for x in d])
    if loss_type == "ipo":
        lw = [len(t) for t in CHOSEN_TOKENS]
        ll = [len(t) for t in REJECTED_TOKENS]
        return mean([(w / a - l / b - 1 / (2 * BETA)) ** 2 for w, l, a, b in zip(cw, cl, lw, ll)])
    if loss_type == "kto_pair":
        kl_w = max(mean(cw), 0.0)
        kl_l = max(mean(cl), 0.0)
        terms = [1 - _sig(BETA * (w - kl_l)) for w in cw] + [1 - _sig(BETA * (kl_w - l)) for l in cl]
        assert len(terms) == 2 * n
        return mean(terms)
    if loss_type == "rpo":
        chosen_tokens = [t for row in CHOSEN_TOKENS for t in row]
        nll = -sum(chosen_tokens) / len(chosen_tokens)
        return sigmoid + rpo_alpha * nll
    raise AssertionError(loss_type)


LOSS_CASES = [
    ("sigmoid", {}),
    ("sigmoid-cdpo", {"label_smoothing": 0.2}),
    ("ipo", {"loss_type": "ipo"}),
    ("hinge", {"loss_type": "hinge"}),
    ("kto_pair", {"loss_type": "kto_pair"}),
    ("rpo", {"loss_type": "rpo", "rpo_alpha": 0.5}),
    ("rpo-cdpo", {"loss_type": "rpo", "rpo_alpha": 0.5, "label_smoothing": 0.1}),
]


@pytest.fixture(scope="module")
def built(pairs, tmp_path_factory):
    """One TRL trainer per loss configuration (LoRA; the loss code path does not depend on the model)."""
    cache = {}

    def get(extra: dict):
        key = json.dumps(extra, sort_keys=True)
        if key not in cache:
            cache[key] = _trl_trainer(pairs, tmp_path_factory.mktemp("b"), **extra)[0]
        return cache[key]

    return get


@pytest.mark.parametrize("extra", [c[1] for c in LOSS_CASES], ids=[c[0] for c in LOSS_CASES])
def test_loss_matches_closed_form(extra, built):
    trainer = built(extra)
    trainer.precompute_ref_logps = True  # the reference log-probs come from the batch (as when precomputed)
    model, inputs, log_probs = _fixed_inputs()
    loss = trainer._compute_loss(model, inputs, False)
    expect = _hand(extra.get("loss_type", "sigmoid"), extra.get("label_smoothing", 0.0), extra.get("rpo_alpha", 1.0))
    assert float(loss.detach()) == pytest.approx(expect, rel=1e-5, abs=1e-6)
    loss.backward()  # a real, differentiable loss of the policy log-probabilities
    assert log_probs.grad is not None and float(log_probs.grad.abs().sum()) > 0
    # TRL's reward metrics are still logged: beta * log-ratio
    chosen = [sum(t) - r for t, r in zip(CHOSEN_TOKENS, REF_CHOSEN)]
    assert trainer._metrics["train"]["rewards/chosen"][-1] == pytest.approx(BETA * sum(chosen) / 3, rel=1e-5)


def test_loss_type_mapping_onto_trl():
    from halo_forge.dpo.losses import trl_loss_spec

    assert trl_loss_spec("sigmoid") == (["sigmoid"], [1.0], None)
    assert trl_loss_spec("rpo", 0.0, 0.7) == (["sigmoid", "sft"], [1.0, 0.7], None)
    assert trl_loss_spec("kto_pair") == (["sigmoid"], [0.0], "kto_pair")
    assert trl_loss_spec("sigmoid", 0.1) == (["sigmoid"], [0.0], "cdpo")


def test_reference_free_precomputes_the_step0_policy_and_keeps_no_reference(pairs, tmp_path):
    from halo_forge.evaluation import pair_texts, sequence_logps

    trainer, data, tok = _trl_trainer(pairs, tmp_path, reference_free=True, no_lora=True)
    assert trainer.ref_model is None and trainer.precompute_ref_logps
    ds = trainer.train_dataset
    assert {"ref_chosen_logps", "ref_rejected_logps"} <= set(ds.column_names)
    # independently: the start model's own log p(reply | prompt), tokenised and summed by us
    texts = [pair_texts(r, tok) for r in data.train]
    chosen = sequence_logps(trainer.model, tok, [p for p, _, _ in texts], [c for _, c, _ in texts])
    rejected = sequence_logps(trainer.model, tok, [p for p, _, _ in texts], [r for _, _, r in texts])
    assert ds["ref_chosen_logps"] == pytest.approx(chosen, abs=1e-3)
    assert ds["ref_rejected_logps"] == pytest.approx(rejected, abs=1e-3)
    # ... and the loss uses them: sigmoid on (policy - precomputed) log-ratios
    model, inputs, _ = _fixed_inputs()
    assert float(trainer._compute_loss(model, inputs, False).detach()) == pytest.approx(_hand("sigmoid"), rel=1e-5)


def test_reference_choice(pairs, tmp_path):
    lora, _, _ = _trl_trainer(pairs, tmp_path / "a")
    assert lora.ref_model is None and not lora.precompute_ref_logps  # base with adapters disabled
    full, _, _ = _trl_trainer(pairs, tmp_path / "b", no_lora=True)
    assert full.ref_model is not None and full.ref_model is not full.model
    assert not any(p.requires_grad for p in full.ref_model.parameters())


# --- real steps, each loss type -----------------------------------------------------------------

TRAIN_CASES = [
    ("sigmoid-lora", {}),
    ("ipo-full", {"loss_type": "ipo", "no_lora": True}),
    ("hinge-lora", {"loss_type": "hinge"}),
    ("kto_pair-lora", {"loss_type": "kto_pair"}),
    ("kto_pair-full", {"loss_type": "kto_pair", "no_lora": True}),
    ("rpo-cdpo-full", {"loss_type": "rpo", "label_smoothing": 0.1, "no_lora": True}),
    ("sigmoid-reference-free", {"reference_free": True, "no_lora": True}),
]


@pytest.mark.parametrize("extra", [c[1] for c in TRAIN_CASES], ids=[c[0] for c in TRAIN_CASES])
def test_each_loss_type_trains(extra, pairs, tmp_path, monkeypatch):
    import torch

    from halo_forge.dpo import losses
    from halo_forge.dpo._dispatch import get_dpo_trainer

    seen = []
    make = losses.trainer_class

    def recording():
        cls = make()

        class Recording(cls):
            def __init__(self, *a, **kw):
                super().__init__(*a, **kw)
                self.initial = {n: p.detach().clone() for n, p in self.model.named_parameters() if p.requires_grad}
                seen.append(self)

        return Recording

    monkeypatch.setattr("halo_forge.dpo.torch_trainer.trainer_class", recording)
    out = tmp_path / "out"
    run = get_dpo_trainer(_config(pairs, out, **extra))
    run.quiet = True
    summary = run.train()
    (trainer,) = seen
    assert summary.modality == "dpo" and summary.total_train_steps_executed == 2 and summary.weights_updated
    moved = [n for n, p in trainer.model.named_parameters()
             if n in trainer.initial and not torch.equal(p.detach(), trainer.initial[n])]
    assert moved, "no trainable weight changed"
    metrics = {e.metric: e for e in summary.effectiveness.evaluations}
    pref = metrics["heldout_preference_accuracy"]
    assert summary.effectiveness.evaluation.metric == "heldout_preference_accuracy"
    assert pref.n == 4 and 0 <= pref.before <= 1 and 0 <= pref.after <= 1
    assert "heldout_accuracy" in metrics  # rows carry an answer
    ex = summary.extra
    assert ex["loss_type"] == extra.get("loss_type", "sigmoid") and ex["beta"] == BETA
    assert ex["label_smoothing"] == extra.get("label_smoothing", 0.0)
    assert ex["reference_free"] is extra.get("reference_free", False)
    for key in ("reward_accuracy_history", "chosen_rewards_history", "rejected_rewards_history", "margins_history"):
        assert len(ex[key]) == 2 and all(math.isfinite(h["value"]) for h in ex[key])
    assert TrainingSummary.read(out / SUMMARY_FILE).run_id == summary.run_id
