"""Built-in spoken audio (espeak-ng, or generated tones without it), audio rows and loading errors."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import soundfile as sf

from halo_forge.data import audio, audio_builtin
from halo_forge.errors import DataError

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None,
                                  reason="espeak-ng not installed (scripts/install.sh installs it)")


@pytest.fixture(scope="module")
def digits():
    return audio.load_builtin("spoken_digits")


def _tone(path, rate=16000, seconds=0.25, channels=1, subtype="PCM_16"):
    t = np.arange(int(rate * seconds)) / rate
    wave = 0.3 * np.sin(2 * np.pi * 440 * t)
    sf.write(path, np.stack([wave] * channels, axis=1) if channels > 1 else wave, rate, subtype=subtype)
    return str(path)


@needs_espeak
def test_spoken_digits_are_espeak_speech_at_16k(digits):
    train, heldout = digits
    assert len(train) + len(heldout) == audio_builtin.SIZES["spoken_digits"] and heldout
    row = train[0]
    assert row["synth"].startswith("espeak-ng") and row["text"] == audio_builtin.DIGITS[row["label"]]
    info = sf.info(row["audio"])
    assert info.samplerate == 16000 and info.channels == 1 and 0.15 < info.duration < 2.0
    assert sorted({r["label"] for r in train}) == list(range(10))
    assert not {r["audio"] for r in train} & {r["audio"] for r in heldout}
    json.dumps(train)


def test_without_espeak_the_clips_are_generated_tones(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # a PATH with no espeak-ng on it: the real fallback path
    monkeypatch.setenv("HALO_FORGE_HOME", str(tmp_path / "home"))
    assert audio_builtin.synthesiser() == "tones"
    train, heldout = audio.load_builtin("spoken_words")
    assert train[0]["synth"] == "tones" and train[0]["text"] in audio_builtin.WORDS
    wave = audio.load_audio(train[0]["audio"], "row 0")
    assert wave.dtype == np.float32 and 0.2 < wave.size / 16000 < 1.0 and np.abs(wave).max() > 0.1
    again = audio.load_builtin("spoken_words")  # cached: same files, same samples
    assert again[0][0]["audio"] == train[0]["audio"]


def test_records_are_deterministic_and_sequences_have_three_words():
    assert audio_builtin.record("digit_sequences", 4) == audio_builtin.record("digit_sequences", 4)
    assert audio_builtin.record("digit_sequences", 4, seed=1) != audio_builtin.record("digit_sequences", 4)
    assert len(audio_builtin.record("digit_sequences", 9)["text"].split()) == 3


def test_registry_names():
    specs = audio.AUDIO_DATASETS
    assert specs["librispeech"].source == "openslr/librispeech_asr" and specs["speech_commands"].config == "v0.02"
    assert specs["common_voice"].formatter({"audio": "a.mp3", "sentence": "hi"}, "r") == {"audio": "a.mp3", "text": "hi"}
    assert {"spoken_digits", "spoken_words", "digit_sequences"} <= set(specs)


def test_load_audio_resamples_and_mixes_down(tmp_path):
    wave = audio.load_audio(_tone(tmp_path / "a.wav", rate=44100, channels=2), "row 0")
    assert wave.dtype == np.float32 and wave.ndim == 1 and abs(wave.size - 4000) <= 1
    flac = audio.load_audio(_tone(tmp_path / "b.flac", rate=22050, subtype="PCM_24"), "row 1", sampling_rate=8000)
    assert abs(flac.size - 2000) <= 1
    arr = audio.load_audio({"array": [0.0, 0.5, -0.5, 0.0], "sampling_rate": 16000}, "row 2")
    assert arr.tolist() == [0.0, 0.5, -0.5, 0.0]


def test_wrong_or_unsupported_sample_rate_names_row(tmp_path):
    with pytest.raises(DataError, match=r"data\.jsonl:3 .*4000 Hz, outside the supported 8000-192000 Hz"):
        audio.load_waves([{"audio": _tone(tmp_path / "low.wav", rate=4000)}], lambda i: "data.jsonl:3")
    with pytest.raises(DataError, match=r"data\.jsonl:4 .*is 22050 Hz but the row says sampling_rate=16000"):
        audio.load_waves([{"audio": _tone(tmp_path / "c.wav", rate=22050), "sampling_rate": 16000}],
                         lambda i: "data.jsonl:4")
    with pytest.raises(DataError, match="without an integer 'sampling_rate'"):
        audio.load_audio({"array": [0.1]}, "row 5")


def test_corrupt_or_missing_audio_names_row(tmp_path):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF....WAVEfmt garbage")
    with pytest.raises(DataError, match=r"row 6: cannot read audio .*bad\.wav.*corrupt"):
        audio.load_audio(str(bad), "row 6")
    with pytest.raises(DataError, match=r"data\.jsonl:7 \(audio\): audio file 'clips/x\.wav' does not exist"):
        audio.normalise_row({"audio": "clips/x.wav", "text": "hi"}, "data.jsonl:7", base=tmp_path)


def test_rows_need_a_transcript_or_a_label(tmp_path):
    clip = _tone(tmp_path / "a.wav")
    assert audio.normalise_row({"audio": "a.wav", "sentence": "hi"}, "r", base=tmp_path)["text"] == "hi"
    with pytest.raises(DataError, match="no transcript"):
        audio.normalise_row({"audio": clip}, "r")
    with pytest.raises(DataError, match="'label' is 'yes', not a class index"):
        audio.normalise_row({"audio": clip, "label": "yes"}, "r", task="classification")
    with pytest.raises(DataError, match="no 'audio' column"):
        audio.normalise_row({"text": "hi"}, "r")


def test_hub_audio_rows_arrive_as_bytes_and_materialise(tmp_path):
    """`loaders.load_hub` on a real `datasets` parquet set with an Audio column (loaded offline from a
    local path): rows hold {"bytes", "path"} (datasets 5 does not decode in to_list; its decoder would
    need torchcodec). They are written to files by content and read back with soundfile."""
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq
    from datasets import Audio, Features, Value

    from halo_forge.data.loaders import load_hub

    buf = io.BytesIO()
    sf.write(buf, np.zeros(2205, dtype=np.float32), 22050, format="WAV")
    features = Features({"audio": Audio(), "text": Value("string")})
    (tmp_path / "set").mkdir()
    pq.write_table(pa.table({"audio": [{"bytes": buf.getvalue(), "path": "a.wav"}], "text": ["hello"]})
                   .cast(features.arrow_schema), tmp_path / "set" / "train.parquet")
    raw = load_hub(str(tmp_path / "set"), None, "train")
    assert isinstance(raw[0]["audio"]["bytes"], bytes) and raw[0]["text"] == "hello"
    out = audio.materialise_audio(raw + [{"audio": {"array": [0.0, 0.25], "sampling_rate": 8000}}], tmp_path / "media")
    assert out[0]["audio"].endswith(".wav") and json.dumps(out)
    assert abs(audio.load_audio(out[0]["audio"], "row 0").size - 1600) <= 1
    assert audio.load_audio(out[1]["audio"], "row 1", sampling_rate=8000).tolist() == [0.0, 0.25]


def test_load_audio_data_local_file_for_each_task(tmp_path):
    from halo_forge.audio.config import AudioConfig
    from halo_forge.data.media import MediaSplitData

    for k in range(4):
        _tone(tmp_path / f"{k}.wav")
    rows = [{"audio": f"{k}.wav", "text": "hi", "label": k % 2} for k in range(4)]
    (tmp_path / "rows.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    cfg = AudioConfig(data=tmp_path / "rows.jsonl", seed=0, eval_split=0.25, task="classification")
    data = audio.load_audio_data(cfg)
    assert isinstance(data, MediaSplitData) and len(data.train) == 3 and data.train[0]["audio"].startswith(str(tmp_path))
    (tmp_path / "bad.jsonl").write_text(json.dumps({"audio": "0.wav", "text": "hi"}) + "\n")
    cfg = cfg.model_copy(update={"data": tmp_path / "bad.jsonl"})
    with pytest.raises(DataError, match=r"bad\.jsonl:1: 'label' is None, not a class index"):
        audio.load_audio_data(cfg)
    cfg = cfg.model_copy(update={"task": "asr"})
    assert audio.load_audio_data(cfg).train[0]["text"] == "hi"
