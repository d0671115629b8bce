"""The built-in tiny models: a random-init Llama or Qwen2 causal LM and a locally trained tokenizer.

`halo-forge/tiny` (Llama) and `halo-forge/tiny-qwen2` are accepted wherever a hub id is. They
are built deterministically from a seed on first use and cached under `paths.home()/models`.
They are sized (~1M parameters, one token per digit) so the offline quickstart learns its
arithmetic task on two CPU cores in a couple of minutes; they know nothing else.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

from halo_forge.paths import cached_folder, home

BUILD_VERSION = 2  # bump when the builder's output changes (2: the chat template renders tools and tool calls)
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]

# ChatML with {% generation %} markers so TRL's assistant-only loss works on multi-turn chats. With `tools=`
# a system turn lists each tool as `name(arg,...)` (short: the model has 512 positions); an assistant turn's
# `tool_calls` render Hermes/Qwen-style as `<tool_call>{"name": ..., "arguments": {...}}</tool_call>`
# (arguments given as a dict or as JSON text render alike), inside the generation markers; a `tool` turn is
# an ordinary turn. Chats without tools render exactly as before.
CHAT_TEMPLATE = (
    "{%- if tools %}{{- '<|im_start|>system\\ntools:' }}"
    "{%- for tool in tools %}{%- set f = tool['function'] if tool['function'] is defined else tool %}"
    "{{- ' ' + f['name'] + '(' + ((f.get('parameters') or {}).get('properties') or {}) | list | join(',') + ')' }}{%- endfor %}"
    "{{- '<|im_end|>\\n' }}{%- endif %}"
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' }}"
    "{%- if message['role'] == 'assistant' %}"
    "{% generation %}{{- message['content'] or '' }}"
    "{%- for call in message['tool_calls'] or [] %}"
    "{%- set c = call['function'] if call['function'] is defined else call %}"
    "{{- '<tool_call>{\"name\": \"' + c['name'] + '\", \"arguments\": ' }}"
    "{%- if c['arguments'] is string %}{{- c['arguments'] }}{%- else %}{{- c['arguments'] | tojson }}{%- endif %}"
    "{{- '}</tool_call>' }}{%- endfor %}"
    "{{- '<|im_end|>' }}{% endgeneration %}{{- '\\n' }}"
    "{%- else %}{{- message['content'] + '<|im_end|>\\n' }}{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)


@dataclass(frozen=True)
class TinySpec:
    architecture: str = "llama"
    hidden_size: int = 128
    num_layers: int = 4
    num_heads: int = 4
    intermediate_size: int = 512
    max_positions: int = 512
    vocab_size: int = 512
    seed: int = 0


TINY_MODELS = {
    "halo-forge/tiny": TinySpec(architecture="llama"),
    "halo-forge/tiny-qwen2": TinySpec(architecture="qwen2"),
}
# Built-in multimodal tiny models: name -> the module that builds them (its tiny_path / ensure_tiny).
MULTIMODAL_TINY = {
    "halo-forge/tiny-llava": "halo_forge.models.tiny_vlm",
    "halo-forge/tiny-whisper": "halo_forge.models.tiny_audio",
    "halo-forge/tiny-audio-cls": "halo_forge.models.tiny_audio",
}


def is_tiny(name: str) -> bool:
    return str(name) in TINY_MODELS or str(name) in MULTIMODAL_TINY


def _builder(name: str):
    import importlib

    return importlib.import_module(MULTIMODAL_TINY[name])


def spec_path(name: str, spec, build_version: int) -> Path:
    """`home()/models/<short name>-<digest of the spec and builder version>` for a tiny model."""
    blob = json.dumps({"spec": asdict(spec), "build": build_version}, sort_keys=True)
    return home() / "models" / f"{name.split('/')[-1]}-{hashlib.sha256(blob.encode()).hexdigest()[:12]}"


def tiny_path(name: str) -> Path:
    if name in MULTIMODAL_TINY:
        return _builder(name).tiny_path(name)
    return spec_path(name, TINY_MODELS[name], BUILD_VERSION)


def seeded(seed: int, make):
    """`make()` under `torch.manual_seed(seed)`, leaving the caller's RNG as it was."""
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return make()


def build_cached(name: str, spec, path: Path, save) -> Path:
    """The tiny model folder `path`, built on first use by `save(folder)` (model, tokenizer or
    processor) plus a `halo_forge_tiny.json` of the spec, renamed into place atomically."""
    def build(tmp: Path) -> None:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # no "Writing model shards" bar for a 4 MB model
        save(tmp)
        (tmp / "halo_forge_tiny.json").write_text(json.dumps({"name": name, **asdict(spec)}, indent=2))

    return cached_folder(path, build, marker="halo_forge_tiny.json")


def _corpus() -> list[str]:
    """Text the tokenizer is trained on: the built-in task plus the chat template's words."""
    from halo_forge.data.builtin import arithmetic_rows

    texts = ["system", "user", "assistant", "\n", "The answer is", "### Instruction:", "### Response:"]
    for row in arithmetic_rows(range(0, 2000), seed=0):
        texts.append(row["prompt"])
        texts.append(row["answer"])
    return texts


def train_bpe(corpus: list[str], vocab_size: int, special_tokens: list[str]):
    """A `tokenizers` byte-level BPE (one token per digit) trained on `corpus`, specials first."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=special_tokens,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False,
    )
    tok.train_from_iterator(corpus, trainer=trainer)
    return tok


def build_tokenizer(spec: TinySpec, corpus: list[str] | None = None, extra_special: tuple[str, ...] = ()):
    """The tiny models' tokenizer: `train_bpe` on `corpus` (default: the arithmetic task) with ChatML
    specials (+ `extra_special`, e.g. ``<image>``) and the ChatML chat template."""
    from transformers import PreTrainedTokenizerFast

    tok = train_bpe(_corpus() if corpus is None else corpus, spec.vocab_size, SPECIAL_TOKENS + list(extra_special))
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=None, eos_token="<|im_end|>", pad_token="<|endoftext|>",
        unk_token=None, model_max_length=spec.max_positions,
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast


def build_model(spec: TinySpec, tokenizer):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

    common = dict(
        vocab_size=len(tokenizer), hidden_size=spec.hidden_size, num_hidden_layers=spec.num_layers,
        num_attention_heads=spec.num_heads, num_key_value_heads=spec.num_heads,
        intermediate_size=spec.intermediate_size, max_position_embeddings=spec.max_positions,
        tie_word_embeddings=True, pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id, bos_token_id=None,
    )
    if spec.architecture == "llama":
        config, cls = LlamaConfig(**common), LlamaForCausalLM
    elif spec.architecture == "qwen2":
        config, cls = Qwen2Config(**common), Qwen2ForCausalLM
    else:
        raise ValueError(f"unknown tiny architecture {spec.architecture!r}")
    model = seeded(spec.seed, lambda: cls(config))
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    return model


def ensure_tiny(name: str = "halo-forge/tiny") -> Path:
    """The folder of built-in tiny model `name`, building it on first use (atomically)."""
    if name in MULTIMODAL_TINY:
        return _builder(name).ensure_tiny(name)
    spec = TINY_MODELS[name]

    def save(folder: Path) -> None:
        tokenizer = build_tokenizer(spec)
        build_model(spec, tokenizer).save_pretrained(folder)
        tokenizer.save_pretrained(folder)

    return build_cached(name, spec, tiny_path(name), save)
