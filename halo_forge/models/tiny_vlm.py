"""The built-in tiny vision-language model `halo-forge/tiny-llava`, built the way TRL's tiny test
models are: a scaled-down LLaVA config (a 2-layer CLIP vision tower on 64x64 images in 16x16
patches, a linear-GELU projector, a 4-layer Llama), random weights from a seed, and a
`LlavaProcessor` whose image processor is the PIL/numpy `CLIPImageProcessorPil` (no torchvision).

The tokenizer is the text tiny model's byte-level BPE (`tiny.build_tokenizer`) trained on the
built-in image sets' questions and answers, plus an `<image>` special token; the chat template is
ChatML that renders `{"type": "image"}` parts as `<image>` (the processor expands it to one token
per patch). Built on first use and cached under `paths.home()/models`, like `halo-forge/tiny`.

Qwen2-VL-style: not built. transformers 5.24 does have a PIL `Qwen2VLImageProcessorPil`, but the
Qwen2-VL processor also carries a video processor that needs torchvision (docs/VLM_AUDIO.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

BUILD_VERSION = 1  # bump when the builder's output changes
IMAGE_TOKEN = "<image>"
CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]

# ChatML; content is a string or a list of {"type": "image"} / {"type": "text", "text": ...} parts.
CHAT_TEMPLATE = (
    "{%- macro render(content) -%}{%- if content is string -%}{{ content }}{%- else -%}"
    "{%- for part in content -%}{%- if part['type'] == 'image' -%}<image>"
    "{%- elif part['type'] == 'text' -%}{{ part['text'] }}{%- endif -%}{%- endfor -%}{%- endif -%}{%- endmacro -%}"
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' }}"
    "{%- if message['role'] == 'assistant' %}"
    "{% generation %}{{- render(message['content']) + '<|im_end|>' }}{% endgeneration %}{{- '\\n' }}"
    "{%- else %}{{- render(message['content']) + '<|im_end|>\\n' }}{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)


@dataclass(frozen=True)
class TinyVLMSpec:
    image_size: int = 64
    patch_size: int = 16  # 16 image tokens: 8x8 patches (64 tokens) cost 2x per step and learned no faster
    vision_hidden: int = 64
    vision_layers: int = 2
    vision_heads: int = 4
    hidden_size: int = 128
    num_layers: int = 4
    num_heads: int = 4
    intermediate_size: int = 512
    max_positions: int = 512
    vocab_size: int = 512
    seed: int = 0

    @property
    def image_tokens(self) -> int:
        return (self.image_size // self.patch_size) ** 2


TINY_MODELS = {"halo-forge/tiny-llava": TinyVLMSpec()}


def tiny_path(name: str) -> Path:
    from halo_forge.models.tiny import spec_path

    return spec_path(name, TINY_MODELS[name], BUILD_VERSION)


def _corpus() -> list[str]:
    from halo_forge.data import vision_builtin

    return ["system", "user", "assistant", "\n", *vision_builtin.corpus()]


def build_processor(spec: TinyVLMSpec):
    """LlavaProcessor = the PIL CLIP image processor + the tiny BPE tokenizer with `<image>`."""
    from transformers import LlavaProcessor
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    from halo_forge.models.tiny import TinySpec, build_tokenizer

    tok_spec = TinySpec(vocab_size=spec.vocab_size, max_positions=spec.max_positions)
    tokenizer = build_tokenizer(tok_spec, corpus=_corpus(), extra_special=(IMAGE_TOKEN,))
    tokenizer.chat_template = CHAT_TEMPLATE
    image_processor = CLIPImageProcessorPil(
        size={"shortest_edge": spec.image_size}, crop_size={"height": spec.image_size, "width": spec.image_size},
        image_mean=CLIP_MEAN, image_std=CLIP_STD, do_convert_rgb=True,
    )
    return LlavaProcessor(image_processor=image_processor, tokenizer=tokenizer, patch_size=spec.patch_size,
                          vision_feature_select_strategy="default", num_additional_image_tokens=1,
                          chat_template=CHAT_TEMPLATE, image_token=IMAGE_TOKEN)


def build_model(spec: TinyVLMSpec, processor):
    from transformers import CLIPVisionConfig, LlamaConfig, LlavaConfig, LlavaForConditionalGeneration

    from halo_forge.models.tiny import seeded

    tok = processor.tokenizer
    vision = CLIPVisionConfig(hidden_size=spec.vision_hidden, intermediate_size=spec.vision_hidden * 4,
                              num_hidden_layers=spec.vision_layers, num_attention_heads=spec.vision_heads,
                              image_size=spec.image_size, patch_size=spec.patch_size, projection_dim=spec.vision_hidden)
    text = LlamaConfig(vocab_size=len(tok), hidden_size=spec.hidden_size, num_hidden_layers=spec.num_layers,
                       num_attention_heads=spec.num_heads, num_key_value_heads=spec.num_heads,
                       intermediate_size=spec.intermediate_size, max_position_embeddings=spec.max_positions,
                       tie_word_embeddings=True, pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id,
                       bos_token_id=None)
    config = LlavaConfig(vision_config=vision, text_config=text, image_token_index=processor.image_token_id,
                         image_seq_length=spec.image_tokens, vision_feature_layer=-1,
                         vision_feature_select_strategy="default", tie_word_embeddings=True)
    model = seeded(spec.seed, lambda: LlavaForConditionalGeneration(config))
    model.generation_config.pad_token_id = tok.pad_token_id
    model.generation_config.eos_token_id = tok.eos_token_id
    return model


def ensure_tiny(name: str = "halo-forge/tiny-llava") -> Path:
    """The folder of the built-in tiny VLM `name` (model + processor), built on first use."""
    from halo_forge.models.tiny import build_cached

    spec = TINY_MODELS[name]

    def save(folder: Path) -> None:
        processor = build_processor(spec)
        build_model(spec, processor).save_pretrained(folder)
        processor.save_pretrained(folder)

    return build_cached(name, spec, tiny_path(name), save)
