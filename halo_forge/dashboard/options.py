"""What the Train page offers, goal first: goals → trainers, each trainer's datasets and config fields
(defaults and descriptions from the config classes), the models to start from, the verifiers."""

from __future__ import annotations

import types
import typing
from pathlib import Path
from typing import Any, Literal

from halo_forge import registry
from halo_forge.dashboard.models import Choice, Goal, TrainerOptions, TrainOptions

GOALS = [
    Goal(id="adapt", title="Adapt to my domain", trainers=["sft"],
         description="Supervised fine-tuning (SFT): learn from examples of the answers you want "
                     "(instructions, chats or plain text)."),
    Goal(id="align", title="Align with preferences", trainers=["dpo", "orpo"],
         description="Learn from pairs of a preferred and a rejected answer. DPO starts from a fine-tuned model "
                     "(usually your SFT output); ORPO folds SFT and preference learning into one stage."),
    Goal(id="verify", title="Optimise a verifiable objective", trainers=["grpo", "raft"],
         description="Sample answers and reward the ones a verifier accepts (math, tests, schemas). GRPO learns "
                     "from every sample's reward; RAFT keeps the best samples and fine-tunes on them, cycle by cycle."),
    Goal(id="reason", title="Reason step by step", trainers=["reasoning"],
         description="Think, then answer: SFT on worked solutions, then GRPO or RAFT rewarded by math-verify on the "
                     "answer and by the <think>…</think> format."),
    Goal(id="score", title="Train a scorer", trainers=["rm"],
         description="A reward model (RM) that scores answers, trained on preference pairs."),
    Goal(id="images", title="Answer questions about images", trainers=["vlm"],
         description="A vision-language model on image + text rows (charts, documents, counting): SFT on the "
                     "answers, then GRPO or RAFT against verifiers that check them (--method)."),
    Goal(id="speech", title="Transcribe or classify audio", trainers=["audio"],
         description="Speech recognition (a Whisper-style model judged on word error rate; SFT, then RAFT or GRPO "
                     "with a WER reward) or audio classification (--task)."),
]

DESCRIPTIONS = {
    "sft": "Supervised fine-tuning (TRL SFTTrainer + PEFT).",
    "dpo": "Direct preference optimisation (TRL DPOTrainer).",
    "orpo": "Odds-ratio preference optimisation: SFT and preference in one stage.",
    "rm": "Reward model on preference pairs (TRL RewardTrainer).",
    "grpo": "Group-relative policy optimisation with verifier rewards (TRL GRPOTrainer).",
    "raft": "Sample, verify, keep the best, fine-tune; repeated for several cycles.",
    "vlm": "Vision-language SFT, GRPO or RAFT on image + text rows (TRL), judged by VLM verifiers.",
    "audio": "ASR (SFT, RAFT or GRPO with a WER reward) or audio classification.",
    "reasoning": "Think/answer reasoning: SFT, GRPO (loss variants, dynamic sampling) or RAFT with math rewards.",
}


# the built-in tiny models of the VLM and audio trainers (halo_forge.models.tiny.MULTIMODAL_TINY)
MEDIA_MODELS = {"halo-forge/tiny-llava": "LLaVA for the vlm trainer (CLIP tower + Llama, 1.3M parameters)",
                "halo-forge/tiny-whisper": "Whisper for the audio trainer's asr task (0.29M parameters)",
                "halo-forge/tiny-audio-cls": "Whisper-encoder classifier for the audio trainer's classification task "
                                             "(ten digits, 0.14M parameters)"}


def _datasets(trainer: str) -> list[Choice]:
    from halo_forge.dispatch import load_ref

    table = load_ref(registry.config_class(trainer).datasets)
    return [Choice(name=s.name, source=s.source, description=s.description) for s in table.values()
            if not s.needs or s.needs == trainer]


def _type(annotation: Any) -> tuple[str, list[str] | None]:
    """(bool | int | float | str | path | list, its choices) of a field's annotation."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and len(args) == 1:
        annotation = args[0]
    if typing.get_origin(annotation) is Literal:
        return "choice", [str(a) for a in typing.get_args(annotation)]
    if typing.get_origin(annotation) is list:
        return "list", None
    names = {bool: "bool", int: "int", float: "float", str: "str", Path: "path"}
    return names.get(annotation, "str"), None


def fields(trainer: str, cls) -> dict[str, dict[str, Any]]:
    """Each config field: type, default (JSON), description, choices and its command-line flag."""
    from halo_forge.config import flag_name

    out = {}
    for name, field in cls.model_fields.items():
        kind, choices = _type(field.annotation)
        default = field.default
        out[name] = {"type": kind, "default": str(default) if isinstance(default, Path) else default,
                     "description": field.description or "", "choices": choices,
                     "flag": flag_name(name)}
    return out


def _models(index) -> list[Choice]:
    from halo_forge.models.tiny import MULTIMODAL_TINY, TINY_MODELS

    out = [Choice(name=name, source="built-in", description=f"Built-in random-init {spec.architecture} "
                  "(~1M parameters, tokenizer built locally): offline, trains in seconds on a CPU.")
           for name, spec in TINY_MODELS.items()]
    out += [Choice(name=name, source="built-in", description=f"Built-in random-init {what}: offline, trains in "
                   "seconds on a CPU.") for name, what in ((n, MEDIA_MODELS.get(n, n)) for n in MULTIMODAL_TINY)]
    if index is None:
        return out
    try:
        recent = index.search(status="completed", sort="started_at", limit=30, facets=False).rows
    except Exception:  # noqa: BLE001 - an index that cannot be read leaves the built-in models
        recent = []
    seen = set()
    for row in recent:
        if row.output_path and row.output_path not in seen:
            seen.add(row.output_path)
            out.append(Choice(name=row.output_path, source=f"run {row.run_id}",
                              description=f"the output of {row.modality} run {row.run_id} on {row.model_name} "
                                          f"(verdict {row.verdict})"))
    return out


def _verifiers() -> list[Choice]:
    from halo_forge.verifiers import available_verifiers

    out = []
    for name, entry in available_verifiers().items():
        doc = (entry.cls.__doc__ or "").strip().splitlines()
        out.append(Choice(name=name, source=entry.source, description=doc[0] if doc else ""))
    return out


def train_options(workspace, index=None) -> TrainOptions:
    trainers = {}
    for name in registry.modalities():
        cls = registry.config_class(name)
        trainers[name] = TrainerOptions(name=name, description=DESCRIPTIONS.get(name, (cls.__doc__ or "").strip()),
                                        datasets=_datasets(name), fields=fields(name, cls))
    return TrainOptions(workspace=str(workspace.root), goals=GOALS, trainers=trainers, models=_models(index),
                        verifiers=_verifiers())
