"""Built-in offline image datasets, drawn with PIL deterministically from a seed.

- `charts`: bar charts (3-5 bars, integer values 1-9) with the values known; questions ask for
  the tallest bar's value. Rows carry every bar's value for the chart verifier.
- `shapes`: 1-6 big black circles, squares or triangles (one kind per image) to count.
- `ocr`: a 4-character code rendered as text; the answer is the code.
- `invoices`: a small invoice rendered from a JSON record; the answer is that record as JSON, and
  rows carry the schema and the expected values for the `json_extract` verifier.

The PNGs are rendered once into `paths.home()/data/<set>-<digest>/` (atomically) and rows point
at them by absolute path; the dataset digest should hash the image bytes (`vision.media_digest`),
not the paths. Rows are conversational prompt/completion with one `{"type": "image"}` part and an
`images` column, the shape TRL's vision collator and GRPO trainer take.
"""

from __future__ import annotations

import hashlib
import json
import random
from functools import lru_cache
from pathlib import Path

from halo_forge.paths import cached_folder, home

BUILD_VERSION = 3  # bump when a drawing changes
HELDOUT_FRACTION = 0.15
SIZES = {"charts": 1200, "shapes": 1200, "ocr": 600, "invoices": 300}
COLOURS = ["#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"]
SHAPES = ["circle", "square", "triangle"]
OCR_ALPHABET = "ABCDEFGHJKLMNPRSTUVWXYZ23456789"
VENDORS = ["Acme Ltd", "Globex", "Initech", "Umbrella", "Hooli", "Stark Co", "Wayne Inc", "Soylent"]
INVOICE_SCHEMA = {
    "type": "object",
    "properties": {"invoice_number": {"type": "string", "pattern": "^INV-[0-9]{4}$"},
                   "date": {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"},
                   "vendor": {"type": "string"}, "total": {"type": "number"}},
    "required": ["invoice_number", "date", "vendor", "total"],
}
INVOICE_QUESTION = "Extract invoice_number, date, vendor and total from this invoice as JSON."
QUESTIONS = {
    "charts": "What is the value of the tallest bar?",
    "shapes": "How many {shape}s are in the image?",
    "ocr": "What text is written in the image?",
}


def _rng(name: str, seed: int, i: int) -> random.Random:
    return random.Random(f"{name}:{seed}:{i}")


# ------------------------------------------------------------------ records (text only, no PIL)
def record(name: str, i: int, seed: int = 0) -> dict:
    """What image `i` of set `name` shows, and its question and answer (no drawing)."""
    rng = _rng(name, seed, i)
    if name == "charts":
        n, top = rng.randint(3, 5), rng.randint(2, 9)  # the answer is uniform over 2-9
        values = [rng.randint(1, top - 1) for _ in range(n)]
        values[rng.randrange(n)] = top  # one tallest bar, so the question has one answer
        labels = [chr(ord("A") + k) for k in range(n)]
        return {"values": values, "labels": labels, "question": QUESTIONS["charts"], "answer": str(max(values))}
    if name == "shapes":
        shape, count = rng.choice(SHAPES), rng.randint(1, 6)
        return {"shape": shape, "count": count, "question": QUESTIONS["shapes"].format(shape=shape),
                "answer": str(count)}
    if name == "ocr":
        text = "".join(rng.choice(OCR_ALPHABET) for _ in range(4))
        return {"text": text, "question": QUESTIONS["ocr"], "answer": text}
    if name == "invoices":
        inv = {"invoice_number": f"INV-{rng.randint(1000, 9999)}",
               "date": f"2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
               "vendor": rng.choice(VENDORS), "total": round(rng.randint(100, 99999) / 100, 2)}
        return {"invoice": inv, "question": INVOICE_QUESTION, "answer": json.dumps(inv)}
    raise KeyError(name)


def corpus(seed: int = 0) -> list[str]:
    """Every question and answer text of the built-in sets (what the tiny VLM's tokenizer learns)."""
    texts = []
    for name, n in SIZES.items():
        for i in range(n):
            rec = record(name, i, seed)
            texts += [rec["question"], rec["answer"]]
    return texts


# ------------------------------------------------------------------ drawing
@lru_cache(maxsize=None)
def _font(size: int):
    from PIL import ImageFont

    return ImageFont.load_default(size=size)


@lru_cache(maxsize=None)
def _glyphs(text: str, size: int):
    """`text` rendered once as a mask (charts repeat the same few labels thousands of times)."""
    from PIL import Image, ImageDraw

    mask = Image.new("L", (size * len(text), size + 3), 0)
    ImageDraw.Draw(mask).text((0, 0), text, fill=255, font=_font(size))
    return mask


def _draw_chart(rec: dict, rng: random.Random):
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (64, 64), "white")
    d = ImageDraw.Draw(img)
    n, base, width = len(rec["values"]), 56, 48 // len(rec["values"])
    d.line([(6, base), (60, base)], fill="black")
    colours = rng.sample(COLOURS, n)
    for k, v in enumerate(rec["values"]):
        x0 = 8 + k * width
        d.rectangle([x0 + 1, base - 5 * v, x0 + width - 2, base - 1], fill=colours[k])
        img.paste("black", (x0 + width // 2 - 2, base + 1), _glyphs(rec["labels"][k], 7))
    return img


def _draw_shapes(rec: dict, rng: random.Random):
    """1-6 big black shapes, one per cell of a 3x2 grid: big, single-colour objects are what a tiny
    random-init VLM learns to count in minutes (small multicoloured ones it did not, in 800 steps)."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (64, 64), "white")
    d = ImageDraw.Draw(img)
    for r, c in rng.sample([(r, c) for r in range(2) for c in range(3)], rec["count"]):
        x, y, s = c * 21 + rng.randint(0, 2), r * 32 + rng.randint(2, 12), 18
        if rec["shape"] == "circle":
            d.ellipse([x, y, x + s, y + s], fill="black")
        elif rec["shape"] == "square":
            d.rectangle([x, y, x + s, y + s], fill="black")
        else:
            d.polygon([(x + s / 2, y), (x, y + s), (x + s, y + s)], fill="black")
    return img


def _draw_ocr(rec: dict, rng: random.Random):
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (128, 128), rng.choice(["white", "#f4f1e8", "#e8f0f4"]))
    ImageDraw.Draw(img).text((rng.randint(4, 30), rng.randint(30, 70)), rec["text"], fill="black", font=_font(26))
    return img


def _draw_invoice(rec: dict, rng: random.Random):
    from PIL import Image, ImageDraw

    inv = rec["invoice"]
    img = Image.new("RGB", (128, 128), "white")
    d = ImageDraw.Draw(img)
    d.text((6, 4), "INVOICE", fill="black", font=_font(14))
    lines = [f"No: {inv['invoice_number']}", f"Date: {inv['date']}", f"From: {inv['vendor']}",
             f"Total: {inv['total']:.2f}"]
    for k, line in enumerate(lines):
        d.text((6, 28 + 22 * k), line, fill="black", font=_font(11))
    return img


DRAW = {"charts": _draw_chart, "shapes": _draw_shapes, "ocr": _draw_ocr, "invoices": _draw_invoice}


def _image_path(folder: Path, i: int) -> Path:
    return folder / f"{i:05d}.png"


def render(name: str, seed: int = 0) -> Path:
    """The folder holding set `name`'s PNGs (rendered on first use, atomically)."""
    key = hashlib.sha256(json.dumps([name, seed, SIZES[name], BUILD_VERSION]).encode()).hexdigest()[:12]

    def build(tmp: Path) -> None:
        for i in range(SIZES[name]):
            DRAW[name](record(name, i, seed), _rng(f"draw:{name}", seed, i)).save(_image_path(tmp, i), "PNG", compress_level=1)
        (tmp / "done.json").write_text(json.dumps({"name": name, "seed": seed, "count": SIZES[name]}))

    return cached_folder(home() / "data" / f"{name}-{key}", build, marker="done.json")


# ------------------------------------------------------------------ rows
def row(name: str, i: int, folder: Path, seed: int = 0) -> dict:
    rec = record(name, i, seed)
    out = {"prompt": [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": rec["question"]}]}],
           "completion": [{"role": "assistant", "content": [{"type": "text", "text": rec["answer"]}]}],
           "images": [str(_image_path(folder, i))], "answer": rec["answer"]}
    if name == "charts":
        out["values"] = dict(zip(rec["labels"], rec["values"]))
    if name == "invoices":
        out["schema"], out["expected"] = INVOICE_SCHEMA, rec["invoice"]
    return out


def _unit(key: str) -> float:
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") / 2**64


def split(name: str, seed: int = 0) -> tuple[list[dict], list[dict]]:
    """(train, held-out) rows of built-in set `name`; the held-out images are never trained on."""
    folder = render(name, seed)
    train, heldout = [], []
    for i in range(SIZES[name]):
        (heldout if _unit(f"heldout:{name}:{seed}:{i}") < HELDOUT_FRACTION else train).append(row(name, i, folder, seed))
    return train, heldout
