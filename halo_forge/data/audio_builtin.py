"""Built-in offline audio datasets: spoken digits and words, synthesised deterministically from a seed.

- `spoken_digits`: one digit word ("zero" … "nine"); `label` is the digit (ASR and classification).
- `spoken_words`: one of ten command words (yes, no, up, down …, the Speech Commands core set).
- `digit_sequences`: three digit words ("three one four"), so WER is graded, not all-or-nothing.

Each clip is spoken by `espeak-ng` with a voice, speed and pitch drawn from the seed, resampled to
16 kHz mono (scipy's polyphase filter) and written as a 16-bit WAV. Without espeak-ng the clips are
*generated tones*: each word is a two-tone chord of its own frequencies with per-clip jitter and
noise (learnable, but not speech); rows say which (`synth`). Clips are rendered once into
`paths.home()/data/<set>-<digest>/` and rows point at them by absolute path.
"""

from __future__ import annotations

import hashlib
import io
import json
import random
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from halo_forge.paths import cached_folder, home

BUILD_VERSION = 2  # bump when the clips change
SAMPLE_RATE = 16000
HELDOUT_FRACTION = 0.15
DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
WORDS = ["yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go"]
SIZES = {"spoken_digits": 500, "spoken_words": 500, "digit_sequences": 300}
VOICES = ["en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-us-nyc", "en-gb-x-gbclan"]
VARIANTS = ["", "+m1", "+m3", "+m7", "+f1", "+f2", "+f4", "+klatt"]


def synthesiser() -> str:
    """'espeak-ng' when the program is installed, else 'tones' (the generated fallback)."""
    return "espeak-ng" if shutil.which("espeak-ng") else "tones"


def _rng(*key) -> random.Random:
    return random.Random(":".join(map(str, key)))


SPEAKER_CLIPS = 10  # clips per synthetic speaker: one espeak-ng call says them all


def speaker(name: str, k: int, seed: int = 0) -> dict:
    """Synthetic speaker `k` of set `name`: an espeak-ng voice and variant, speed and pitch."""
    rng = _rng("speaker", name, seed, k)
    return {"voice": rng.choice(VOICES) + rng.choice(VARIANTS), "speed": rng.randint(140, 210),
            "pitch": rng.randint(25, 75)}


def record(name: str, i: int, seed: int = 0) -> dict:
    """What clip `i` of set `name` says, its label and who says it (no synthesis). Each speaker says
    every digit (or word) once."""
    rng = _rng(name, seed, i)
    if name in ("spoken_digits", "spoken_words"):
        label = i % 10
        words = [(DIGITS if name == "spoken_digits" else WORDS)[label]]
    elif name == "digit_sequences":
        label = None
        words = [rng.choice(DIGITS) for _ in range(3)]
    else:
        raise KeyError(name)
    return {"text": " ".join(words), "label": label, **speaker(name, i // SPEAKER_CLIPS, seed)}


def corpus() -> list[str]:
    """Every transcript word (what the tiny Whisper's tokenizer learns)."""
    return DIGITS + WORDS + [" " + w for w in DIGITS + WORDS]


def _silences(wave, min_gap: float = 0.25):
    """(start, end) sample spans of the speech between silences longer than `min_gap` seconds."""
    import numpy as np

    frame = SAMPLE_RATE // 100
    loud = np.abs(wave[: wave.size // frame * frame]).reshape(-1, frame).max(axis=1) > 1e-3
    spans, start, quiet = [], None, 0
    for k, on in enumerate(loud):
        if on:
            start = k if start is None else start
            quiet = 0
        elif start is not None:
            quiet += 1
            if quiet * frame >= min_gap * SAMPLE_RATE:
                spans.append((start * frame, (k - quiet + 1) * frame))
                start = None
    if start is not None:
        spans.append((start * frame, loud.size * frame))
    return spans


def _espeak(texts: list[str], voice: dict) -> list:
    """One espeak-ng call says every text with long pauses between; the speech is cut at the pauses.
    None when the cut does not give one piece per text (the caller then says them one by one)."""
    import numpy as np
    import soundfile as sf

    from halo_forge.data.audio import resample

    ssml = "<speak>" + '<break time="900ms"/>'.join(texts) + "</speak>"
    cmd = ["espeak-ng", "-m", "-v", voice["voice"], "-s", str(voice["speed"]), "-p", str(voice["pitch"]),
           "--stdout", ssml]
    raw = subprocess.run(cmd, check=True, capture_output=True, timeout=120).stdout
    wave, rate = sf.read(io.BytesIO(raw), dtype="float32")
    wave = resample(wave, rate, SAMPLE_RATE)
    spans = _silences(wave)
    if len(spans) != len(texts):
        return None
    pad = SAMPLE_RATE // 20
    return [np.concatenate([np.zeros(pad, np.float32), wave[a:b], np.zeros(pad, np.float32)]) for a, b in spans]


def _tones(rec: dict, rng: random.Random):
    import numpy as np

    parts = []
    for word in rec["text"].split():
        k = (DIGITS + WORDS).index(word)
        dur = rng.uniform(0.3, 0.5) * 170 / rec["speed"]
        t = np.arange(int(dur * SAMPLE_RATE)) / SAMPLE_RATE
        f1, f2 = (250 + 45 * k) * rng.uniform(0.97, 1.03), (900 + 120 * k) * rng.uniform(0.97, 1.03)
        env = np.sin(np.pi * t / dur)
        parts += [env * (0.5 * np.sin(2 * np.pi * f1 * t) + 0.3 * np.sin(2 * np.pi * f2 * t)),
                  np.zeros(int(0.08 * SAMPLE_RATE))]
    wave = np.concatenate(parts)
    noise = np.random.default_rng(rng.getrandbits(32)).normal(0, 0.01, wave.size)
    return (wave + noise).astype(np.float32)


def _clip_path(folder: Path, i: int) -> Path:
    return folder / f"{i:05d}.wav"


def render(name: str, seed: int = 0) -> Path:
    """The folder holding set `name`'s clips (synthesised on first use, atomically)."""
    synth = synthesiser_version()
    key = hashlib.sha256(json.dumps([name, seed, SIZES[name], BUILD_VERSION, synth]).encode()).hexdigest()[:12]

    def speaker_clips(folder: Path, k: int) -> None:
        import soundfile as sf

        ids = range(k * SPEAKER_CLIPS, min(SIZES[name], (k + 1) * SPEAKER_CLIPS))
        recs = [record(name, i, seed) for i in ids]
        if synth == "tones":
            waves = [_tones(rec, _rng("tones", name, seed, i)) for i, rec in zip(ids, recs)]
        else:
            waves = _espeak([r["text"] for r in recs], recs[0]) or [_espeak([r["text"]], r)[0] for r in recs]
        for i, wave in zip(ids, waves):
            sf.write(_clip_path(folder, i), wave, SAMPLE_RATE, subtype="PCM_16")

    def build(tmp: Path) -> None:
        with ThreadPoolExecutor(max_workers=4) as pool:  # espeak-ng runs as a subprocess: overlap them
            list(pool.map(lambda k: speaker_clips(tmp, k), range(-(-SIZES[name] // SPEAKER_CLIPS))))
        (tmp / "done.json").write_text(json.dumps({"name": name, "seed": seed, "synth": synth}))

    return cached_folder(home() / "data" / f"{name}-{key}", build, marker="done.json")


def synthesiser_version() -> str:
    """'espeak-ng <version>' or 'tones': part of the cache key, since another espeak speaks differently."""
    if synthesiser() == "tones":
        return "tones"
    out = subprocess.run(["espeak-ng", "--version"], capture_output=True, text=True, timeout=30).stdout
    return "espeak-ng " + (out.split(":")[1].split()[0] if ":" in out else out.strip())


def _unit(key: str) -> float:
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") / 2**64


def split(name: str, seed: int = 0) -> tuple[list[dict], list[dict]]:
    """(train, held-out) rows: {"audio": path, "text": transcript, "label": int|None, "synth": …}."""
    folder = render(name, seed)
    synth = json.loads((folder / "done.json").read_text())["synth"]
    train, heldout = [], []
    for i in range(SIZES[name]):
        rec = record(name, i, seed)
        out = {"audio": str(_clip_path(folder, i)), "text": rec["text"], "synth": synth}
        if rec["label"] is not None:
            out["label"] = rec["label"]
        (heldout if _unit(f"heldout:{name}:{seed}:{i}") < HELDOUT_FRACTION else train).append(out)
    return train, heldout


LABELS = {"spoken_digits": DIGITS, "spoken_words": WORDS}
