"""Audio rows: the dataset registry (`halo-forge audio datasets`), normalisation, and loading with
soundfile + scipy (never torchaudio), with errors that name the row and the fix.

Canonical audio rows: {"audio": ref, "text": transcript (ASR), "label": int (classification), …}
where ref is a file path (WAV, FLAC, OGG, MP3 — whatever libsndfile reads), or for hub data a
{"bytes", "path"} dict (what `loaders.load_hub` returns for an Audio column: datasets' own decoder
needs torchcodec) or {"array", "sampling_rate"}. `load_audio` returns float32 mono at the model's rate.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any, Callable

from halo_forge.data.media import resolve_file
from halo_forge.data.registry import DatasetSpec
from halo_forge.errors import DataError

MIN_RATE, MAX_RATE = 8000, 192000  # below 8 kHz speech features are meaningless; above is not audio


def _columns(text: str | None, label: str | None) -> Callable[[dict, str], dict]:
    def fmt(row: dict, where: str) -> dict:
        out = {"audio": row["audio"]}
        if text:
            out["text"] = str(row[text])
        if label:
            out["label"] = int(row[label])
        return out
    return fmt


AUDIO_DATASETS: dict[str, DatasetSpec] = {s.name: s for s in [
    DatasetSpec("spoken_digits", "builtin", "Built-in, offline: one spoken digit word (espeak-ng, or generated tones "
                "without it); transcript and label 0-9."),
    DatasetSpec("spoken_words", "builtin", "Built-in, offline: one of ten spoken command words (yes, no, up, down …); "
                "transcript and label 0-9."),
    DatasetSpec("digit_sequences", "builtin", "Built-in, offline: three spoken digit words (graded WER)."),
    DatasetSpec("librispeech", "openslr/librispeech_asr", "LibriSpeech read English, clean 100 h (ASR).",
                _columns("text", None), config="clean", split="train.100", needs="audio"),
    DatasetSpec("common_voice", "mozilla-foundation/common_voice_17_0", "Common Voice English (ASR; gated: accept "
                "the terms on the hub and set HF_TOKEN).", _columns("sentence", None), config="en", needs="audio"),
    DatasetSpec("speech_commands", "google/speech_commands", "Speech Commands v0.02: 35 words + silence "
                "(classification).", _columns(None, "label"), config="v0.02", needs="audio"),
]}


def normalise_row(row: dict, where: str, base: Path | None = None, *, task: str = "asr") -> dict:
    """A canonical audio row; `task` asr needs a transcript ("text"/"sentence"/"transcript"),
    classification an integer "label"."""
    if not isinstance(row, dict):
        raise DataError(f"{where}: expected an object per row, got {type(row).__name__}")
    if row.get("audio") is None:
        raise DataError(f"{where}: the row has no 'audio' column (found {sorted(row)})",
                        hint="give each row an audio file path in an 'audio' column")
    ref = row["audio"]
    if isinstance(ref, (str, Path)):
        ref = resolve_file(ref, f"{where} (audio)", base, "audio", "audio")
    out = {"audio": ref, **{k: v for k, v in row.items() if k not in ("audio", "sentence", "transcript")}}
    if task == "asr":
        text = row.get("text", row.get("sentence", row.get("transcript")))
        if not isinstance(text, str) or not text.strip():
            raise DataError(f"{where}: the row has no transcript", hint="ASR rows need a non-empty 'text' column")
        out["text"] = text
    elif task == "classification":
        label = row.get("label")
        if isinstance(label, bool) or not isinstance(label, int) or label < 0:
            raise DataError(f"{where}: 'label' is {label!r}, not a class index",
                            hint="classification rows need an integer 'label' >= 0 (map names to indices first)")
    else:
        raise ValueError(f"unknown audio task {task!r}")
    return out


def normalise_rows(rows: list[dict], where: Callable[[int], str], base: Path | None = None, *,
                   task: str = "asr") -> list[dict]:
    return [normalise_row(r, where(i), base, task=task) for i, r in enumerate(rows)]


def resample(wave, rate: int, target: int):
    """`wave` (float, mono) resampled from `rate` to `target` Hz with scipy's polyphase filter."""
    from math import gcd

    import numpy as np
    from scipy.signal import resample_poly

    if rate == target:
        return np.asarray(wave, dtype=np.float32)
    g = gcd(int(rate), int(target))
    return resample_poly(wave, int(target) // g, int(rate) // g).astype(np.float32)


def _decode(ref: Any, where: str):
    import numpy as np
    import soundfile as sf

    if isinstance(ref, dict) and "array" in ref:
        rate = ref.get("sampling_rate")
        if not isinstance(rate, int):
            raise DataError(f"{where}: an audio array without an integer 'sampling_rate'",
                            hint='give {"array": [...], "sampling_rate": 16000}')
        return np.asarray(ref["array"], dtype=np.float32), rate, "array"
    src = io.BytesIO(ref["bytes"]) if isinstance(ref, dict) and ref.get("bytes") else (
        ref.get("path") if isinstance(ref, dict) else ref)
    name = ref.get("path") if isinstance(ref, dict) else ref
    try:
        wave, rate = sf.read(src, dtype="float32", always_2d=True)
    except FileNotFoundError:
        raise DataError(f"{where}: audio file {str(name)!r} does not exist", hint="fix the audio path in that row") from None
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        raise DataError(f"{where}: cannot read audio {str(name)!r}: {exc}",
                        hint="the file is corrupt or in a format libsndfile does not read (use WAV, FLAC, OGG or MP3)") from None
    return wave.mean(axis=1), rate, name


def check_rate(rate: int, name: Any, where: str, *, declared: int | None = None, expected: int | None = None,
               target: int = 16000) -> None:
    """A DataError naming the row for a clip whose rate is outside 8-192 kHz, differs from the row's declared
    `sampling_rate` (a mislabelled file), or from the rate the run requires (`--sampling-rate`)."""
    if declared is not None and int(declared) != rate:
        raise DataError(f"{where}: audio {str(name)!r} is {rate} Hz but the row says sampling_rate={declared}",
                        hint="fix the row's sampling_rate (or drop it: the file's own rate is read and resampled)")
    if expected is not None and rate != expected:
        raise DataError(f"{where}: audio {str(name)!r} is {rate} Hz but --sampling-rate requires {expected} Hz",
                        hint=f"re-export it at {expected} Hz (`ffmpeg -i in.wav -ar {expected} out.wav`), or drop "
                             "--sampling-rate to resample every clip to the model's rate")
    if not MIN_RATE <= rate <= MAX_RATE:
        raise DataError(f"{where}: audio {str(name)!r} is sampled at {rate} Hz, outside the supported "
                        f"{MIN_RATE}-{MAX_RATE} Hz", hint=f"re-export it at {target} Hz, e.g. "
                                                         f"`ffmpeg -i in.wav -ar {target} out.wav`")


def load_audio(ref: Any, where: str, *, sampling_rate: int = 16000, declared_rate: int | None = None):
    """float32 mono samples at `sampling_rate` (resampled from the file's rate with scipy).

    A file whose rate is outside 8-192 kHz, or differs from the row's declared `sampling_rate`
    (a mislabelled file), is a DataError naming the row.
    """
    wave, rate, name = _decode(ref, where)
    check_rate(rate, name, where, declared=declared_rate, target=sampling_rate)
    if wave.size == 0:
        raise DataError(f"{where}: audio {str(name)!r} has no samples", hint="drop the row or replace the file")
    return resample(wave, rate, sampling_rate)


def probe_clips(rows: list[dict], where: Callable[[int], str], *, expected_rate: int | None = None) -> None:
    """Read every clip file's header once (no decoding): a corrupt file or a wrong rate names its row before
    training starts."""
    import soundfile as sf

    for i, row in enumerate(rows):
        ref = row["audio"]
        if not isinstance(ref, str):
            continue
        try:
            info = sf.info(ref)
        except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
            raise DataError(f"{where(i)} (audio): cannot read audio {ref!r}: {exc}",
                            hint="the file is corrupt or in a format libsndfile does not read (use WAV, FLAC, OGG "
                                 "or MP3)") from None
        check_rate(info.samplerate, ref, f"{where(i)} (audio)", declared=row.get("sampling_rate"),
                   expected=expected_rate)


def check_durations(waves: list, where: Callable[[int], str], *, max_samples: int | None, rate: int) -> None:
    """A DataError naming the first clip longer than the model hears (its feature extractor's window): the
    extractor would cut it silently and the model would learn a transcript it never heard in full."""
    if not max_samples:
        return
    for i, wave in enumerate(waves):
        if len(wave) > max_samples:
            raise DataError(f"{where(i)} (audio): the clip is {len(wave) / rate:.2f} s but the model hears at most "
                            f"{max_samples / rate:.2f} s (its feature extractor's window)",
                            hint="cut or split the clip, or use a model with a longer window")


def load_waves(rows: list[dict], where: Callable[[int], str], *, sampling_rate: int = 16000) -> list:
    """Every row's samples at `sampling_rate`; fails on the first bad file, naming its row."""
    return [load_audio(r["audio"], f"{where(i)} (audio)", sampling_rate=sampling_rate,
                       declared_rate=r.get("sampling_rate")) for i, r in enumerate(rows)]


def materialise_audio(rows: list[dict], folder: Path) -> list[dict]:
    """Rows whose audio is bytes (hub data) or an array, written to files named by content, so rows are JSON."""
    import soundfile as sf

    from halo_forge.data.media import write_by_content

    out = []
    for i, row in enumerate(rows):
        ref = row["audio"]
        if isinstance(ref, dict) and ref.get("bytes"):
            ref = write_by_content(ref["bytes"], folder, Path(str(ref.get("path") or "clip.wav")).suffix or ".wav")
        elif isinstance(ref, dict) and "array" in ref:
            buf = io.BytesIO()
            rate = ref.get("sampling_rate")
            sf.write(buf, _decode(ref, f"row {i} (audio)")[0], rate, format="WAV", subtype="FLOAT")
            ref = write_by_content(buf.getvalue(), folder, ".wav")
        elif isinstance(ref, dict) and ref.get("path"):
            ref = ref["path"]
        out.append({**row, "audio": ref})
    return out


def load_builtin(name: str, seed: int = 0) -> tuple[list[dict], list[dict]]:
    """(train, held-out) rows of a built-in audio set (synthesised on first use)."""
    from halo_forge.data import audio_builtin

    if name not in audio_builtin.SIZES:
        raise KeyError(name)
    return audio_builtin.split(name, seed)


def load_audio_data(config):
    """The audio trainer's rows (`MediaSplitData`: digest over the audio bytes) for `config.task` (asr,
    classification) from --data, a built-in set or a hub dataset; every local clip's header is read here (a
    corrupt file or a wrong rate names its line), ASR rows must carry what the verifiers read; `load_waves`
    then reads every clip."""
    from halo_forge.data.media import load_media_split
    from halo_forge.rl import check_verifier_rows

    def check(rows: list[dict], where: Callable[[int], str]) -> None:
        if config.data is not None or config.sampling_rate is not None:
            probe_clips(rows, where, expected_rate=config.sampling_rate)
        if config.task == "asr":
            check_verifier_rows(config, rows, where)

    return load_media_split(config, datasets=AUDIO_DATASETS, trainer="audio", load_builtin=load_builtin,
                            normalise=lambda rows, where, base: normalise_rows(rows, where, base, task=config.task),
                            materialise=materialise_audio, check=check)
