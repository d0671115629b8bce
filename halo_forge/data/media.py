"""What image and audio rows share: file references resolved with clear errors, and a dataset
digest over the media *bytes* rather than their paths (a built-in set rendered under another
`$HALO_FORGE_HOME`, or a copied folder, keeps its digest; a changed pixel or sample changes it).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, ClassVar

from halo_forge.data import SplitData
from halo_forge.errors import DataError

MEDIA_COLUMNS = ("images", "audio")


def resolve_file(ref: Any, where: str, base: Path | None, kind: str, column: str) -> str:
    """An existing file's absolute path for `ref` (relative paths are taken from `base`, the data
    file's folder), else a DataError naming the row, the column and the fix."""
    if not isinstance(ref, (str, Path)) or not str(ref).strip():
        raise DataError(f"{where}: column {column!r} holds {type(ref).__name__} {str(ref)[:60]!r}, not a {kind} "
                        f"file path", hint=f"give each row's {column} as a path to a {kind} file")
    path = Path(str(ref)).expanduser()
    if not path.is_absolute() and base is not None:
        path = Path(base) / path
    if not path.is_file():
        raise DataError(f"{where}: {kind} file {str(ref)!r} does not exist (looked for {path})",
                        hint=f"fix the path in column {column!r}; relative paths are read from the data "
                             f"file's folder{f' ({base})' if base is not None else ''}")
    return str(path.resolve())


def write_by_content(data: bytes, folder: Path, suffix: str) -> str:
    """Write `data` as `<folder>/<sha256 prefix><suffix>` (once; identical media share one file)."""
    path = Path(folder) / f"{hashlib.sha256(data).hexdigest()[:20]}{suffix}"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".partial")
        tmp.write_bytes(data)
        tmp.replace(path)
    return str(path)


def media_refs(row: dict) -> list[str]:
    """The media file paths a canonical row points at (its image, images and audio columns)."""
    out = []
    for col in MEDIA_COLUMNS:
        value = row.get(col)
        out += [v for v in (value if isinstance(value, list) else [value]) if isinstance(v, str)]
    return out


def _file_digest(ref: str) -> str:
    from halo_forge.lineage.digests import file_digest

    try:
        return file_digest(Path(ref))
    except FileNotFoundError:
        raise DataError(f"media file {ref} is missing (the rows point at it)",
                        hint="restore the file; a built-in set is rendered again by a fresh run") from None


def media_digest(*row_lists: list[dict]) -> str:
    """Digest of the rows with every media path replaced by the sha256 of its file's bytes."""
    h = hashlib.sha256()
    for rows in row_lists:
        for row in rows:
            files = {ref: _file_digest(ref) for ref in media_refs(row)}
            plain = {k: v for k, v in row.items() if k not in MEDIA_COLUMNS}
            media = {col: ([files.get(v, v) for v in row[col]] if isinstance(row[col], list) else files.get(row[col]))
                     for col in MEDIA_COLUMNS if col in row}
            h.update(json.dumps([plain, media], sort_keys=True, ensure_ascii=False, default=str).encode() + b"\n")
        h.update(b"\x00")
    return "sha256:" + h.hexdigest()


@dataclass
class MediaSplitData(SplitData):
    """Rows that point at image or audio files: the digest covers the files' bytes, not their paths."""

    media: ClassVar[bool] = True

    @property
    def digest(self) -> str:
        return media_digest(self.train, self.heldout)


def load_media_split(config, *, datasets: dict, trainer: str, load_builtin: Callable, normalise: Callable,
                     materialise: Callable, check: Callable | None = None) -> MediaSplitData:
    """Train/held-out rows for `trainer` (vlm, audio) from --data (a local file; media paths relative to
    it), a built-in set, or a hub dataset (its in-memory media written under `home()/data/media`).
    `check(rows, where)` sees every row before the split, `where(i)` naming its file line or hub row."""
    from halo_forge.data.split import RowSource, formatted, load_split
    from halo_forge.paths import home

    def canonical(raw):
        rows = normalise(formatted(raw), raw.where, raw.base)
        return trainer, rows if raw.base is not None else materialise(rows, home() / "data" / "media"), []

    return load_split(config, RowSource(datasets, canonical, load_builtin, trainer, check=check,
                                        kind=MediaSplitData, trainer=trainer))
