"""Vision-language rows: the dataset registry (`halo-forge vlm datasets`), normalisation to TRL's
multimodal shapes, and image loading with errors that name the row and the fix.

Canonical VLM rows (what TRL's vision collator and GRPO trainer take):
  {"prompt": [turns], "completion": [turns], "images": [ref, …], "answer": …}   or
  {"messages": [turns], "images": [ref, …]}
where every turn's content is a list of parts, ``{"type": "image"}`` or ``{"type": "text", "text": …}``,
with exactly one image part per image. A ref is a file path (local data, built-in sets), or a PIL
image / {"bytes", "path"} dict (hub data) until `materialise_images` writes it to a file.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any, Callable

from halo_forge.data.formats import ROLE_ALIASES
from halo_forge.data.media import resolve_file
from halo_forge.data.registry import DatasetSpec
from halo_forge.errors import DataError

IMAGE_MARKER = "<image>"
_CONSUMED = {"messages", "conversations", "prompt", "completion", "image", "images", "question", "query",
             "answers", "label"}


def _qa_row(question: Any, gold: Any, images: list, where: str) -> dict:
    """One question with its accepted answers (the first is the training target)."""
    gold = [str(g) for g in gold] if isinstance(gold, (list, tuple)) else [str(gold)]
    if not gold or not gold[0].strip():
        raise DataError(f"{where}: the row has no answer", hint="drop rows without an answer")
    return {"prompt": [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": str(question)}]}],
            "completion": [{"role": "assistant", "content": [{"type": "text", "text": gold[0]}]}],
            "images": images, "answer": gold}


def _qa(question: str, answers: str) -> Callable[[dict, str], dict]:
    """Formatter for hub VQA sets: one image, one question, a list of accepted answers."""
    return lambda row, where: _qa_row(row[question], row[answers], [row["image"]], where)


def _llava_mix(row: dict, where: str) -> dict:
    return {"messages": row["messages"], "images": row["images"]}


VLM_DATASETS: dict[str, DatasetSpec] = {s.name: s for s in [
    DatasetSpec("charts", "builtin", "Built-in, offline: bar charts (3-5 bars, values 1-9); what is the tallest "
                "bar's value? Rows carry every bar's value (chart verifier)."),
    DatasetSpec("shapes", "builtin", "Built-in, offline: count 1-6 circles, squares or triangles (vqa verifier)."),
    DatasetSpec("ocr", "builtin", "Built-in, offline: read a rendered 4-character code (vqa verifier)."),
    DatasetSpec("invoices", "builtin", "Built-in, offline: extract a rendered invoice as JSON (json_extract "
                "verifier: schema + expected values)."),
    DatasetSpec("llava", "HuggingFaceH4/llava-instruct-mix-vsft", "259k LLaVA instruction chats with their images "
                "(TRL's VLM SFT example set).", _llava_mix, needs="vlm"),
    DatasetSpec("chartqa", "HuggingFaceM4/ChartQA", "28k chart questions (query, label).", _qa("query", "label"),
                needs="vlm"),
    DatasetSpec("docvqa", "HuggingFaceM4/DocumentVQA", "39k document-image questions (question, answers).",
                _qa("question", "answers"), needs="vlm"),
    DatasetSpec("textvqa", "lmms-lab/textvqa", "35k questions about text in photos (question, 10 answers).",
                _qa("question", "answers"), needs="vlm"),
]}


# ------------------------------------------------------------------ normalisation
def _parts(content: Any, where: str, turn: int) -> list[dict]:
    if isinstance(content, str):
        pieces = content.split(IMAGE_MARKER)
        out: list[dict] = []
        for k, text in enumerate(pieces):
            if k:
                out.append({"type": "image"})
            if text.strip():
                out.append({"type": "text", "text": text.strip("\n")})
        return out
    if not isinstance(content, list):
        raise DataError(f"{where}: turn {turn} content is {type(content).__name__}, not text or a list of parts",
                        hint='write content as a string or [{"type": "image"}, {"type": "text", "text": "…"}]')
    out = []
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "image":
            out.append({"type": "image"})
        elif kind == "text":
            if part.get("text"):
                out.append({"type": "text", "text": str(part["text"])})
        else:
            raise DataError(f"{where}: turn {turn} has a content part {str(part)[:60]!r} that is neither "
                            f"an image nor a text part", hint='each part is {"type": "image"} or {"type": "text", "text": …}')
    return out


def _turns(turns: Any, where: str, default_role: str | None = None) -> list[dict]:
    if isinstance(turns, str) and default_role:
        turns = [{"role": default_role, "content": turns}]
    if not isinstance(turns, list) or not turns:
        raise DataError(f"{where}: expected a non-empty list of chat turns, got {type(turns).__name__}",
                        hint='write turns as [{"role": "user", "content": [{"type": "image"}, …]}, …]')
    out = []
    for i, turn in enumerate(turns):
        if not isinstance(turn, dict):
            raise DataError(f"{where}: turn {i} is not an object")
        role = ROLE_ALIASES.get(str(turn.get("role", turn.get("from", ""))).lower())
        if role is None:
            raise DataError(f"{where}: turn {i} has no known role (found keys {sorted(turn)})",
                            hint="give each turn a role: system, user, assistant or tool")
        out.append({"role": role, "content": _parts(turn.get("content", turn.get("value")), where, i)})
    return out


def _image_list(row: dict, where: str, base: Path | None) -> list:
    value = row.get("images", row.get("image"))
    if value is None:
        return []
    refs = value if isinstance(value, list) else [value]
    column = "images" if "images" in row else "image"
    return [resolve_file(r, f"{where} ({column}[{k}])", base, "image", column) if isinstance(r, (str, Path)) else r
            for k, r in enumerate(refs)]


def _count_image_parts(turns: list[dict]) -> int:
    return sum(p["type"] == "image" for t in turns for p in t["content"])


def normalise_row(row: dict, where: str, base: Path | None = None) -> dict:
    """A canonical VLM row from a chat, prompt/completion, LLaVA (conversations) or question/answer row."""
    if not isinstance(row, dict):
        raise DataError(f"{where}: expected an object per row, got {type(row).__name__}")
    images, answer_column = _image_list(row, where, base), None
    if "messages" in row or "conversations" in row:
        out = {"messages": _turns(row.get("messages", row.get("conversations")), where)}
        convo = out["messages"]
    elif "prompt" in row and "completion" in row:
        out = {"prompt": _turns(row["prompt"], where, "user"), "completion": _turns(row["completion"], where, "assistant")}
        convo = out["prompt"] + out["completion"]
    elif ("question" in row or "query" in row) and ("answer" in row or "answers" in row or "label" in row):
        answer_column = next(k for k in ("answer", "answers", "label") if k in row)
        out = _qa_row(row.get("question", row.get("query")), row[answer_column], images, where)
        convo = out["prompt"] + out["completion"]
    else:
        raise DataError(f"{where}: cannot tell the row's format from its columns {sorted(row)}",
                        hint="use messages + image(s), prompt + completion + image(s), or question + answer + image")
    if not any(t["role"] == "assistant" for t in convo):
        raise DataError(f"{where}: the row has no assistant turn to learn from",
                        hint="add an assistant turn (or a completion)")
    _match_images(convo, images, where)
    out["images"] = images
    out.update({k: v for k, v in row.items() if k not in _CONSUMED and k != answer_column})
    return out


def _match_images(convo: list[dict], images: list, where: str) -> None:
    """One {"type": "image"} part per image: inserts them before the first user text when the row has
    none (TRL's rule), else refuses a mismatch."""
    parts = _count_image_parts(convo)
    if parts and not images:
        raise DataError(f"{where}: the row has {parts} {{\"type\": \"image\"}} part(s) but no image",
                        hint='add the image path in an "image" column (or a list in "images"), or drop the image part')
    if not parts and images:
        first_user = next((t for t in convo if t["role"] == "user"), None)
        if first_user is None:
            raise DataError(f"{where}: the row has an image but no user turn to attach it to")
        first_user["content"][:0] = [{"type": "image"} for _ in images]
    elif parts != len(images):
        raise DataError(f"{where}: the row has {parts} image part(s) but {len(images)} image(s)",
                        hint="give one image per {\"type\": \"image\"} part, in order")


def normalise_rows(rows: list[dict], where: Callable[[int], str], base: Path | None = None) -> list[dict]:
    return [normalise_row(r, where(i), base) for i, r in enumerate(rows)]


# ------------------------------------------------------------------ images
def open_image(ref: Any, where: str, *, max_side: int | None = None):
    """An RGB PIL image for a path, {"bytes"|"path"} dict or PIL image; a corrupt or unreadable file is a
    DataError naming the row. `max_side` shrinks (keeping the aspect ratio) anything larger."""
    from PIL import Image

    try:
        if isinstance(ref, Image.Image):
            img = ref.convert("RGB")
        else:
            src = io.BytesIO(ref["bytes"]) if isinstance(ref, dict) and ref.get("bytes") else (
                ref["path"] if isinstance(ref, dict) else ref)
            with Image.open(src) as im:
                im.load()
                img = im.convert("RGB")
    except FileNotFoundError:
        raise DataError(f"{where}: image file {ref!r} does not exist", hint="fix the image path in that row") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        name = ref if isinstance(ref, (str, Path)) else (ref.get("path") if isinstance(ref, dict) else "image")
        raise DataError(f"{where}: cannot read image {str(name)!r}: {exc}",
                        hint="the file is corrupt or not an image (PNG, JPEG, WebP …): re-export it or drop the row") from None
    if max_side and max(img.size) > max_side:
        img.thumbnail((max_side, max_side))
    return img


def load_images(rows: list[dict], where: Callable[[int], str], *, max_side: int | None = None) -> list[dict]:
    """The rows with every image opened (RGB PIL), ready for TRL; fails on the first bad image."""
    return [{**r, "images": [open_image(ref, f"{where(i)} (images[{k}])", max_side=max_side)
                             for k, ref in enumerate(r.get("images", []))]} for i, r in enumerate(rows)]


def materialise_images(rows: list[dict], folder: Path) -> list[dict]:
    """Rows whose in-memory images (PIL, bytes) are written as PNGs named by content, so rows are JSON."""
    from halo_forge.data.media import write_by_content

    out = []
    for i, row in enumerate(rows):
        refs = []
        for k, ref in enumerate(row.get("images", [])):
            if isinstance(ref, (str, Path)):
                refs.append(str(ref))
                continue
            buf = io.BytesIO()
            open_image(ref, f"row {i} (images[{k}])").save(buf, "PNG")
            refs.append(write_by_content(buf.getvalue(), folder, ".png"))
        out.append({**row, "images": refs})
    return out


# ------------------------------------------------------------------ built-in sets
def load_builtin(name: str, seed: int = 0) -> tuple[list[dict], list[dict]]:
    """(train, held-out) canonical rows of a built-in image set (rendered on first use)."""
    from halo_forge.data import vision_builtin

    if name not in vision_builtin.SIZES:
        raise KeyError(name)
    return vision_builtin.split(name, seed)


def check_images(rows: list[dict], where: Callable[[int], str]) -> None:
    """Open every image file of `rows` once: a corrupt or unreadable one names its row before training starts."""
    for i, row in enumerate(rows):
        for k, ref in enumerate(row.get("images", [])):
            if isinstance(ref, str):
                open_image(ref, f"{where(i)} (images[{k}])")


def load_vlm_data(config):
    """The VLM trainer's rows (`MediaSplitData`: digest over the image bytes) from --data, a built-in set
    or a hub dataset; every image of a local file is opened here (a bad one names its line), and every row
    must carry what the configured verifiers read."""
    from halo_forge.data.media import load_media_split
    from halo_forge.rl import check_verifier_rows

    def check(rows: list[dict], where: Callable[[int], str]) -> None:
        if config.data is not None:
            check_images(rows, where)
        if config.method != "sft":  # SFT measures the pass rate when rows allow it, else the held-out loss
            check_verifier_rows(config, rows, where)

    return load_media_split(config, datasets=VLM_DATASETS, trainer="vlm", load_builtin=load_builtin,
                            normalise=normalise_rows, materialise=materialise_images, check=check)
