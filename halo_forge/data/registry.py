"""Short dataset names → hub source + formatter, per trainer (`halo-forge sft datasets`)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Callable

from halo_forge.data import formats
from halo_forge.errors import DataError


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    source: str  # hub id, or "builtin"
    description: str
    formatter: Callable[[dict, str], dict] | None = None
    config: str | None = None
    split: str = "train"
    needs: str | None = None  # another trainer that must handle it (multimodal)


def _metamath(row: dict, where: str) -> dict:
    return {"prompt": [{"role": "user", "content": str(row["query"])}],
            "completion": [{"role": "assistant", "content": str(row["response"])}]}


def _gsm8k(row: dict, where: str) -> dict:
    out = formats.from_question_answer(row, where)
    gold = formats.final_answer(str(row["answer"]))
    if gold is not None:
        out["answer"] = gold
    return out


def _json_field(row: dict, key: str, where: str):
    value = row[key]
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        raise DataError(f"{where}: column {key!r} is not valid JSON ({exc.msg} at char {exc.pos})",
                        hint=f"{key} must hold a JSON list (or a JSON string of one)") from None


def _xlam(row: dict, where: str) -> dict:
    tools = _json_field(row, "tools", where)
    answers = _json_field(row, "answers", where)
    system = "You can call these tools. Answer with a JSON list of calls.\n" + json.dumps(tools, ensure_ascii=False)
    return {"prompt": [{"role": "system", "content": system}, {"role": "user", "content": str(row["query"])}],
            "completion": [{"role": "assistant", "content": json.dumps(answers, ensure_ascii=False)}]}


_GLAIVE_TURN = re.compile(r"(USER|ASSISTANT|FUNCTION RESPONSE):\s*")


def _glaive(row: dict, where: str) -> dict:
    msgs = []
    system = str(row.get("system", "")).removeprefix("SYSTEM:").strip()
    if system:
        msgs.append({"role": "system", "content": system})
    parts = _GLAIVE_TURN.split(str(row["chat"]))
    role_of = {"USER": "user", "ASSISTANT": "assistant", "FUNCTION RESPONSE": "tool"}
    for speaker, text in zip(parts[1::2], parts[2::2]):
        text = text.replace("<|endoftext|>", "").strip()
        if text:
            msgs.append({"role": role_of[speaker], "content": text})
    return formats.from_messages({"messages": msgs}, where)


SFT_DATASETS: dict[str, DatasetSpec] = {s.name: s for s in [
    DatasetSpec("arithmetic", "builtin", "Built-in, offline: two-digit addition (the quickstart task)."),
    DatasetSpec("codealpaca", "sahil2801/CodeAlpaca-20k", "20k code instructions (alpaca format).", formats.from_alpaca),
    DatasetSpec("code_instructions_122k", "TokenBender/code_instructions_122k_alpaca_style",
                "122k code instructions (alpaca format).", formats.from_alpaca),
    DatasetSpec("python_instructions", "iamtarun/python_code_instructions_18k_alpaca",
                "18k Python instructions (alpaca format).", formats.from_alpaca),
    DatasetSpec("metamath", "meta-math/MetaMathQA", "395k math question/response pairs.", _metamath),
    DatasetSpec("gsm8k_sft", "openai/gsm8k", "GSM8K worked solutions; final answer kept for accuracy.",
                _gsm8k, config="main"),
    DatasetSpec("llava", "liuhaotian/LLaVA-Instruct-150K", "Image instruction chats (multimodal).",
                formats.from_sharegpt, needs="vlm"),
    DatasetSpec("xlam_sft", "Salesforce/xlam-function-calling-60k", "60k function-calling examples.", _xlam),
    DatasetSpec("glaive_sft", "glaiveai/glaive-function-calling-v2", "Function-calling chats.", _glaive),
]}


def get_spec(name: str, registry: dict[str, DatasetSpec], trainer: str) -> DatasetSpec | None:
    """The spec for a short name; None when `name` looks like a hub id; an error for unknown short names."""
    if name in registry:
        spec = registry[name]
        if spec.needs and spec.needs != trainer:
            raise DataError(f"dataset {name!r} is multimodal and needs the {spec.needs} trainer",
                            hint=f"use `halo-forge {spec.needs} train --dataset {name}`")
        return spec
    if "/" in name:
        return None
    raise DataError(f"unknown dataset short name {name!r}",
                    hint=f"known names: {', '.join(sorted(registry))}; or pass a hub id (owner/name) "
                         "or a local file with --data")


def _columns(*names: str) -> Callable[[dict, str], dict]:
    """Keep only the columns the preference normaliser reads (hub rows carry scores, ids, messages …)."""
    return lambda row, where: {k: row[k] for k in names if k in row}


# Preference pairs for DPO, ORPO and RM (`halo-forge dpo datasets`); rows normalised by data.preference.
PREFERENCE_DATASETS: dict[str, DatasetSpec] = {s.name: s for s in [
    DatasetSpec("arithmetic_pref", "builtin", "Built-in, offline: two-digit addition pairs that judge the carry "
                "only: carry right (chosen) vs wrong (rejected), both in the quickstart teacher's hand."),
    DatasetSpec("ultrafeedback", "HuggingFaceH4/ultrafeedback_binarized", "61k GPT-4-rated pairs; chat lists "
                "collapsed to prompt + final assistant reply.", _columns("prompt", "chosen", "rejected"),
                split="train_prefs"),
    DatasetSpec("orca_dpo", "Intel/orca_dpo_pairs", "13k Orca pairs (system + question → chosen/rejected).",
                _columns("system", "question", "chosen", "rejected")),
    DatasetSpec("hh_rlhf", "Anthropic/hh-rlhf", "161k helpful/harmless transcripts; the prompt is recovered from "
                "the shared prefix of chosen and rejected.", _columns("chosen", "rejected")),
    DatasetSpec("py_dpo", "jondurbin/py-dpo-v0.1", "9k Python coding pairs (prompt/chosen/rejected).",
                _columns("prompt", "chosen", "rejected")),
]}
