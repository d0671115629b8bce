"""The built-in tiny audio models, built the way TRL's tiny test models are (scaled-down config,
random weights from a seed), cached under `paths.home()/models` like `halo-forge/tiny`:

- `halo-forge/tiny-whisper`: `WhisperForConditionalGeneration` (2+2 layers, d_model 64) with a
  `WhisperProcessor`: a real `WhisperFeatureExtractor` (80 mel bins, 16 kHz, hop 160, n_fft 400,
  Whisper's own numpy filterbank) whose window is 2 s instead of 30 s (`chunk_length=2`, and
  `max_source_positions=100` to match), and a `WhisperTokenizer` with a byte-level BPE trained on
  the built-in transcripts followed by Whisper's special tokens in Whisper's order.
- `halo-forge/tiny-audio-cls`: `WhisperForAudioClassification` (the same encoder shape, a mean-
  pooled projector and a linear head) with the same feature extractor; labels are the ten
  digits of the built-in `spoken_digits` set. Another label set: load it with `num_labels=K,
  ignore_mismatched_sizes=True` (the head is re-initialised).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

BUILD_VERSION = 2  # bump when the builder's output changes
# Whisper's special tokens after the text vocabulary, in Whisper's order (English only): ids keep
# the relations WhisperTokenizer relies on (<|en|> = <|startoftranscript|> + 1).
WHISPER_SPECIALS = ["<|endoftext|>", "<|startoftranscript|>", "<|en|>", "<|translate|>", "<|transcribe|>",
                    "<|startoflm|>", "<|startofprev|>", "<|nospeech|>", "<|notimestamps|>"]


@dataclass(frozen=True)
class TinyAudioSpec:
    kind: str = "asr"  # asr | classification
    d_model: int = 64
    encoder_layers: int = 2
    decoder_layers: int = 2
    heads: int = 4
    ffn_dim: int = 256
    num_mel_bins: int = 80
    chunk_seconds: int = 2
    max_target_positions: int = 64
    vocab_size: int = 320
    seed: int = 0


TINY_MODELS = {"halo-forge/tiny-whisper": TinyAudioSpec(kind="asr"),
               "halo-forge/tiny-audio-cls": TinyAudioSpec(kind="classification")}


def tiny_path(name: str) -> Path:
    from halo_forge.models.tiny import spec_path

    return spec_path(name, TINY_MODELS[name], BUILD_VERSION)


def build_feature_extractor(spec: TinyAudioSpec):
    from transformers import WhisperFeatureExtractor

    return WhisperFeatureExtractor(feature_size=spec.num_mel_bins, sampling_rate=16000, hop_length=160,
                                   chunk_length=spec.chunk_seconds, n_fft=400, padding_value=0.0)


def build_tokenizer(spec: TinyAudioSpec):
    """A WhisperTokenizer over a BPE trained (`tiny.train_bpe`) on the built-in transcripts."""
    from transformers import WhisperTokenizer

    from halo_forge.data.audio_builtin import corpus
    from halo_forge.models.tiny import train_bpe

    model = json.loads(train_bpe(corpus(), spec.vocab_size - len(WHISPER_SPECIALS), []).to_str())["model"]
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in model["merges"]]
    tok = WhisperTokenizer(vocab=model["vocab"], merges=merges, model_max_length=spec.max_target_positions)
    tok.add_special_tokens({"additional_special_tokens": WHISPER_SPECIALS[1:]})
    tok.pad_token = "<|endoftext|>"
    return tok


def _config(spec: TinyAudioSpec, tok):
    from transformers import WhisperConfig

    ids = {t: tok.convert_tokens_to_ids(t) for t in WHISPER_SPECIALS}
    return WhisperConfig(
        vocab_size=len(tok), num_mel_bins=spec.num_mel_bins, d_model=spec.d_model,
        encoder_layers=spec.encoder_layers, decoder_layers=spec.decoder_layers,
        encoder_attention_heads=spec.heads, decoder_attention_heads=spec.heads,
        encoder_ffn_dim=spec.ffn_dim, decoder_ffn_dim=spec.ffn_dim,
        max_source_positions=spec.chunk_seconds * 50, max_target_positions=spec.max_target_positions,
        pad_token_id=ids["<|endoftext|>"], bos_token_id=ids["<|endoftext|>"], eos_token_id=ids["<|endoftext|>"],
        decoder_start_token_id=ids["<|startoftranscript|>"], begin_suppress_tokens=None, suppress_tokens=None,
        classifier_proj_size=spec.d_model, num_labels=10,
    )


def build_model(spec: TinyAudioSpec, tok):
    from transformers import WhisperForAudioClassification, WhisperForConditionalGeneration

    from halo_forge.data.audio_builtin import DIGITS
    from halo_forge.models.tiny import seeded

    config = _config(spec, tok)
    config.id2label = dict(enumerate(DIGITS))
    config.label2id = {w: i for i, w in enumerate(DIGITS)}
    cls = WhisperForConditionalGeneration if spec.kind == "asr" else WhisperForAudioClassification
    model = seeded(spec.seed, lambda: cls(config))
    if spec.kind == "asr":
        _generation_config(model.generation_config, tok)
    return model


def _generation_config(gen, tok) -> None:
    """What WhisperForConditionalGeneration.generate reads: English-only, transcribe, no timestamps."""
    ids = {t: tok.convert_tokens_to_ids(t) for t in WHISPER_SPECIALS}
    gen.decoder_start_token_id = ids["<|startoftranscript|>"]
    gen.eos_token_id = gen.pad_token_id = ids["<|endoftext|>"]
    gen.no_timestamps_token_id = ids["<|notimestamps|>"]
    gen.is_multilingual = False
    gen.lang_to_id = {"<|en|>": ids["<|en|>"]}
    gen.task_to_id = {"transcribe": ids["<|transcribe|>"], "translate": ids["<|translate|>"]}
    gen.forced_decoder_ids = None
    gen.begin_suppress_tokens = None
    gen.suppress_tokens = None


def ensure_tiny(name: str) -> Path:
    """The folder of the built-in tiny audio model `name` (model + processor), built on first use."""
    from halo_forge.models.tiny import build_cached

    spec = TINY_MODELS[name]

    def save(folder: Path) -> None:
        from transformers import WhisperProcessor

        tok = build_tokenizer(spec)
        build_model(spec, tok).save_pretrained(folder)
        extractor = build_feature_extractor(spec)
        (WhisperProcessor(feature_extractor=extractor, tokenizer=tok) if spec.kind == "asr" else extractor
         ).save_pretrained(folder)

    return build_cached(name, spec, tiny_path(name), save)
