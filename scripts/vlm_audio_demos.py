"""The built-in VLM and audio demos, before the trainers are wired: plain library trainers on the tiny
models and the built-in sets, held-out figures before and after (docs/VLM_AUDIO.md records them).

    PYTHONPATH=. .venv/bin/python scripts/vlm_audio_demos.py asr      # tiny Whisper, spoken digits: WER
    PYTHONPATH=. .venv/bin/python scripts/vlm_audio_demos.py cls      # tiny classifier, spoken digits: accuracy
    PYTHONPATH=. .venv/bin/python scripts/vlm_audio_demos.py vlm      # tiny LLaVA, shapes: answer accuracy

Options: --steps N --lr X --batch B --set NAME --schedule constant|cosine --seed S. One torch thread (steady on a shared machine).
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

DEFAULTS = {  # the settings docs/VLM_AUDIO.md reports
    "asr": {"steps": 300, "lr": 2e-3, "batch": 32, "set": "spoken_digits", "schedule": "constant"},
    "cls": {"steps": 400, "lr": 1e-3, "batch": 32, "set": "spoken_digits", "schedule": "constant"},
    "vlm": {"steps": 600, "lr": 2e-3, "batch": 32, "set": "shapes", "schedule": "cosine"},
}


def _args(out: str, a, **extra):
    warmup = 0 if a.schedule == "constant" else a.steps // 20
    return dict(output_dir=out, max_steps=a.steps, per_device_train_batch_size=a.batch, learning_rate=a.lr,
                lr_scheduler_type=a.schedule, warmup_steps=warmup, logging_steps=max(1, a.steps // 10), save_strategy="no",
                report_to=[], use_cpu=True, bf16=False, disable_tqdm=True, seed=a.seed, dataloader_num_workers=0,
                remove_unused_columns=False, **extra)


def asr(a, out: str) -> dict:
    from transformers import Seq2SeqTrainer, Seq2SeqTrainingArguments

    from halo_forge.data.audio import load_builtin, load_waves
    from halo_forge.models import audio as speech
    from halo_forge.verifiers import get_verifier

    train, held = load_builtin(a.set, a.seed)
    wtr, whe = load_waves(train, lambda i: f"train[{i}]"), load_waves(held, lambda i: f"heldout[{i}]")
    model, proc = speech.load_asr("halo-forge/tiny-whisper")
    wer = get_verifier("wer")

    def heldout() -> dict:
        hyp = [t[0] for t in speech.transcribe(model, proc, whe, max_new_tokens=16)]
        res = wer.verify_batch(hyp, held)
        return {"wer": round(sum(r.details["wer"] for r in res) / len(res), 4),
                "mean_reward": round(sum(r.reward for r in res) / len(res), 4), "examples": hyp[:4]}

    labels = speech.label_ids(proc.tokenizer, [r["text"] for r in train], model.config.decoder_start_token_id)
    items = [{"wave": w, "labels": lab} for w, lab in zip(wtr, labels)]
    before = heldout()
    trainer = Seq2SeqTrainer(model=model, args=Seq2SeqTrainingArguments(**_args(out, a)), train_dataset=items,
                             data_collator=lambda b: speech.seq2seq_batch(proc, [x["wave"] for x in b],
                                                                          [x["labels"] for x in b]))
    return {"before": before, **_train(trainer), "after": heldout(), "heldout_rows": len(held)}


def cls(a, out: str) -> dict:
    import torch
    from transformers import Trainer, TrainingArguments

    from halo_forge.data.audio import load_builtin, load_waves
    from halo_forge.models import audio as speech

    train, held = load_builtin(a.set, a.seed)
    wtr, whe = load_waves(train, lambda i: f"train[{i}]"), load_waves(held, lambda i: f"heldout[{i}]")
    model, fe = speech.load_classifier("halo-forge/tiny-audio-cls")

    def heldout() -> dict:
        preds = speech.classify(model, fe, whe)
        return {"accuracy": round(sum(p == r["label"] for p, r in zip(preds, held)) / len(held), 4)}

    def collate(batch):
        return {**speech.features(fe, [x["wave"] for x in batch]), "labels": torch.tensor([x["label"] for x in batch])}

    before = heldout()
    trainer = Trainer(model=model, args=TrainingArguments(**_args(out, a)), data_collator=collate,
                      train_dataset=[{"wave": w, "label": r["label"]} for w, r in zip(wtr, train)])
    return {"before": before, **_train(trainer), "after": heldout(), "heldout_rows": len(held)}


def vlm(a, out: str) -> dict:
    from collections import Counter

    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    from halo_forge.data import vision
    from halo_forge.models.vlm import heldout_figures, load_vlm
    from halo_forge.verifiers import get_verifier

    train, held = vision.load_builtin(a.set, a.seed)
    model, proc = load_vlm("halo-forge/tiny-llava")
    verifier = get_verifier("vqa")

    def heldout() -> dict:
        f = heldout_figures(model, proc, held, verifier, max_new_tokens=4, batch_size=64)
        return {"accuracy": round(f["pass_rate"], 4)}

    rows = vision.load_images(train, lambda i: f"{a.set}[{i}]")
    ds = Dataset.from_list([{k: r[k] for k in ("prompt", "completion", "images")} for r in rows])
    before = heldout()
    trainer = SFTTrainer(model=model, processing_class=proc, train_dataset=ds,
                         args=SFTConfig(**_args(out, a, gradient_checkpointing=False, max_length=None)))
    majority = Counter(r["answer"] for r in held).most_common(1)[0][1] / len(held)
    return {"before": before, **_train(trainer), "after": heldout(), "majority_baseline": round(majority, 4),
            "heldout_rows": len(held)}


def _train(trainer) -> dict:
    t = time.time()
    trainer.train()
    losses = [round(h["loss"], 4) for h in trainer.state.log_history if "loss" in h]
    return {"train_seconds": round(time.time() - t, 1), "steps": trainer.state.global_step, "losses": losses}


def main() -> None:
    import tempfile

    import torch

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("demo", choices=sorted(DEFAULTS))
    p.add_argument("--steps", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--batch", type=int)
    p.add_argument("--set")
    p.add_argument("--schedule", choices=["constant", "cosine"])
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    for k, v in DEFAULTS[a.demo].items():
        if getattr(a, k) is None:
            setattr(a, k, v)
    torch.set_num_threads(1)
    torch.manual_seed(a.seed)
    with tempfile.TemporaryDirectory(prefix="halo-forge-demo-") as out:
        result = {"asr": asr, "cls": cls, "vlm": vlm}[a.demo](a, out)
    settings = {k: getattr(a, k) for k in ("steps", "lr", "batch", "set", "schedule", "seed")}
    print(json.dumps({"demo": a.demo, "settings": settings, **result}, indent=2))


if __name__ == "__main__":
    main()
