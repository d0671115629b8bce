"""The audio training path before it is wired into a trainer: real optimiser steps on the tiny models
and the built-in spoken digits. Whisper seq2seq (transformers' Seq2SeqTrainer), audio classification
(Trainer), and the two RL loops Whisper generation allows: RAFT (sample, score by WER, keep the
best, fine-tune) and a GRPO-style policy gradient on sampled transcripts."""

from __future__ import annotations

import pytest

from halo_forge.data.audio import load_builtin, load_waves
from halo_forge.models import audio as speech
from halo_forge.verifiers import get_verifier


@pytest.fixture(scope="module")
def digits():
    train, _ = load_builtin("spoken_digits")
    rows = train[:24]
    return rows, load_waves(rows, lambda i: f"spoken_digits[{i}]")


def _snapshot(model):
    return {k: v.detach().clone() for k, v in model.named_parameters()}


def _unchanged(model, before):
    return [k for k, v in model.named_parameters() if bool((v == before[k]).all())]


def _args(tmp_path, cls):
    return cls(output_dir=str(tmp_path), max_steps=3, per_device_train_batch_size=8, learning_rate=2e-3,
               logging_steps=1, save_strategy="no", report_to=[], use_cpu=True, bf16=False, disable_tqdm=True,
               remove_unused_columns=False, seed=0)


def test_whisper_seq2seq_steps_move_every_weight(digits, tmp_path):
    from transformers import Seq2SeqTrainer, Seq2SeqTrainingArguments

    rows, waves = digits
    model, proc = speech.load_asr("halo-forge/tiny-whisper")
    labels = speech.label_ids(proc.tokenizer, [r["text"] for r in rows], model.config.decoder_start_token_id)
    assert proc.tokenizer.decode(labels[0], skip_special_tokens=True) == rows[0]["text"]
    items = [{"wave": w, "labels": lab} for w, lab in zip(waves, labels)]
    before = _snapshot(model)
    trainer = Seq2SeqTrainer(model=model, args=_args(tmp_path, Seq2SeqTrainingArguments), train_dataset=items,
                             data_collator=lambda b: speech.seq2seq_batch(proc, [x["wave"] for x in b],
                                                                          [x["labels"] for x in b]))
    trainer.train()
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    assert len(losses) == 3 and losses[-1] < losses[0]
    assert _unchanged(model, before) == []


def test_audio_classification_steps_move_every_weight(digits, tmp_path):
    import torch
    from transformers import Trainer, TrainingArguments

    rows, waves = digits
    model, fe = speech.load_classifier("halo-forge/tiny-audio-cls")
    items = [{"wave": w, "label": r["label"]} for w, r in zip(waves, rows)]
    before = _snapshot(model)

    def collate(batch):
        return {**speech.features(fe, [x["wave"] for x in batch]), "labels": torch.tensor([x["label"] for x in batch])}

    trainer = Trainer(model=model, args=_args(tmp_path, TrainingArguments), train_dataset=items, data_collator=collate)
    trainer.train()
    assert len([h for h in trainer.state.log_history if "loss" in h]) == 3
    assert _unchanged(model, before) == []


def test_raft_loop_samples_scores_and_fine_tunes_whisper(digits):
    import torch

    rows, waves = digits
    model, proc = speech.load_asr("halo-forge/tiny-whisper")
    samples = speech.transcribe(model, proc, waves[:6], n=4, do_sample=True, temperature=1.0, max_new_tokens=6)
    assert [len(s) for s in samples] == [4] * 6
    wer = get_verifier("wer")
    scored = [[wer.verify(t, r) for t in s] for s, r in zip(samples, rows)]
    best = [s[max(range(4), key=lambda k: sc[k].reward)] for s, sc in zip(samples, scored)]
    keep = [(w, b) for w, b in zip(waves, best) if b.strip()]  # RAFT keeps the best sample of each clip
    assert keep
    labels = speech.label_ids(proc.tokenizer, [b for _, b in keep], model.config.decoder_start_token_id)
    before = _snapshot(model)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    loss = model(**speech.seq2seq_batch(proc, [w for w, _ in keep], labels)).loss
    loss.backward()
    opt.step()
    assert torch.isfinite(loss) and _unchanged(model, before) == []


def test_grpo_style_policy_gradient_on_sampled_transcripts(digits):
    import torch

    rows, waves = digits
    model, proc = speech.load_asr("halo-forge/tiny-whisper")
    clip, n = waves[0], 4
    samples = speech.transcribe(model, proc, [clip], n=n, do_sample=True, max_new_tokens=6)[0]
    rewards = torch.tensor([get_verifier("wer", metric="cer").verify(t, rows[0]).reward for t in samples])
    rewards = rewards + torch.arange(n) * 1e-3  # a random-init model scores ~0 everywhere: keep advantages defined
    advantages = (rewards - rewards.mean()) / (rewards.std() + 1e-6)
    labels = speech.label_ids(proc.tokenizer, samples, model.config.decoder_start_token_id)
    batch = speech.seq2seq_batch(proc, [clip] * n, labels)
    logp = speech.transcript_logprobs(model, batch)
    assert logp.shape == (n,) and bool((logp < 0).all())
    before = _snapshot(model)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    (-(advantages * logp).mean()).backward()
    opt.step()
    assert len(_unchanged(model, before)) < len(before) // 4
