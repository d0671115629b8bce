"""The built-in tiny audio models: a random-init Whisper (real feature extractor config, built locally)
and a Whisper-encoder audio classifier; deterministic, loadable with plain transformers (smoke test)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from halo_forge.errors import ModelError
from halo_forge.models import audio as speech
from halo_forge.models import tiny, tiny_audio
from halo_forge.models.loading import folder_digest, resolve_model


@pytest.fixture(scope="module")
def whisper_path():
    return tiny.ensure_tiny("halo-forge/tiny-whisper")


def _waves(n=3, seconds=0.6):
    rng = np.random.default_rng(0)
    return [(0.1 * rng.standard_normal(int(16000 * seconds))).astype(np.float32) for _ in range(n)]


def test_names_resolve_and_cache(whisper_path):
    for name in ("halo-forge/tiny-whisper", "halo-forge/tiny-audio-cls"):
        assert tiny.is_tiny(name) and resolve_model(name) == str(tiny.tiny_path(name))
    meta = json.loads((whisper_path / "halo_forge_tiny.json").read_text())
    assert meta["name"] == "halo-forge/tiny-whisper" and meta["kind"] == "asr"
    assert tiny.tiny_path("halo-forge/tiny-whisper") != tiny.tiny_path("halo-forge/tiny-audio-cls")


def test_build_is_deterministic_across_homes(whisper_path, tmp_path, monkeypatch):
    monkeypatch.setenv("HALO_FORGE_HOME", str(tmp_path))
    again = tiny.ensure_tiny("halo-forge/tiny-whisper")
    assert again != whisper_path and folder_digest(again) == folder_digest(whisper_path)


def test_whisper_has_the_real_feature_extractor_and_whisper_tokens(whisper_path):
    from transformers import AutoProcessor, WhisperFeatureExtractor, WhisperTokenizer

    model, proc = speech.load_asr("halo-forge/tiny-whisper")
    fe, tok = proc.feature_extractor, proc.tokenizer
    assert type(fe) is WhisperFeatureExtractor and isinstance(tok, WhisperTokenizer)
    assert (fe.feature_size, fe.sampling_rate, fe.hop_length, fe.n_fft, fe.chunk_length) == (80, 16000, 160, 400, 2)
    assert fe.nb_max_frames == 2 * model.config.max_source_positions == 200
    sot = tok.convert_tokens_to_ids("<|startoftranscript|>")
    assert tok.convert_tokens_to_ids("<|en|>") == sot + 1 and model.config.decoder_start_token_id == sot
    assert tok.convert_tokens_to_ids("<|endoftext|>") == sot - 1 == model.config.eos_token_id
    ids = tok("three one four").input_ids
    assert ids[0] == sot and ids[-1] == model.config.eos_token_id
    assert tok.decode(ids, skip_special_tokens=True) == "three one four"
    assert type(AutoProcessor.from_pretrained(whisper_path)).__name__ == "WhisperProcessor"
    assert 100_000 < sum(p.numel() for p in model.parameters()) < 1_000_000


def test_whisper_transcribes_greedy_and_sampled():
    model, proc = speech.load_asr("halo-forge/tiny-whisper")
    greedy = speech.transcribe(model, proc, _waves(), max_new_tokens=4)
    assert len(greedy) == 3 and all(len(t) == 1 and isinstance(t[0], str) for t in greedy)
    sampled = speech.transcribe(model, proc, _waves(2), n=4, do_sample=True, max_new_tokens=4)
    assert len(sampled) == 2 and all(len(t) == 4 for t in sampled)


def test_audio_classifier_labels_and_logits():
    model, fe = speech.load_classifier("halo-forge/tiny-audio-cls")
    assert type(model).__name__ == "WhisperForAudioClassification"
    assert model.config.id2label[7] == "seven" and model.config.num_labels == 10
    preds = speech.classify(model, fe, _waves())
    assert len(preds) == 3 and all(0 <= p < 10 for p in preds)
    other, _ = speech.load_classifier("halo-forge/tiny-audio-cls", labels=["yes", "no", "up"])
    assert other.config.num_labels == 3 and other.config.label2id["up"] == 2


def test_wrong_kind_of_model_is_a_model_error(tiny_model_path):
    with pytest.raises(ModelError, match="speech-to-text"):
        speech.load_asr("halo-forge/tiny")


def test_spec_sizes_are_what_the_docs_say():
    spec = tiny_audio.TINY_MODELS["halo-forge/tiny-whisper"]
    assert (spec.d_model, spec.encoder_layers, spec.decoder_layers, spec.chunk_seconds) == (64, 2, 2, 2)
