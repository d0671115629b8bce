"""Datasets: registry of short names, local files, hub ids, built-in offline sets.

`load_sft_data(config)` turns whatever the user pointed at into canonical rows split into
train and held-out sets, deterministically from the seed, with a content digest.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from halo_forge.errors import DataError


@dataclass
class SplitData:
    train: list[dict]
    heldout: list[dict]
    source: str
    format: str
    notes: list[str] = field(default_factory=list)
    media: ClassVar[bool] = False

    @property
    def digest(self) -> str:
        return rows_digest(self.train, self.heldout)

    def save(self, path: Path) -> Path:
        """Materialise the exact rows (train and held-out) so a replay trains on the same split."""
        from halo_forge.summary import write_json_atomic

        media = {"media": True} if self.media else {}  # rows point at media files: their digest hashes the bytes
        return write_json_atomic(Path(path), {"source": self.source, "format": self.format, "notes": self.notes,
                                              "digest": self.digest, **media, "train": self.train,
                                              "heldout": self.heldout})

    @classmethod
    def load(cls, path: Path) -> "SplitData":
        from halo_forge.data.media import MediaSplitData

        try:
            blob = json.loads(Path(path).read_text(encoding="utf-8"))
            kind = MediaSplitData if blob.get("media") else cls
            data = kind(train=blob["train"], heldout=blob["heldout"], source=blob["source"], format=blob["format"],
                        notes=blob.get("notes", []))
        except (OSError, ValueError, KeyError) as exc:
            raise DataError(f"{path}: not a materialised halo-forge dataset ({exc})",
                            hint="re-run the original training, or `halo-forge runs reindex`") from None
        if blob.get("digest") not in (None, data.digest):
            raise DataError(f"{path}: rows do not match their recorded digest (file changed since it was written)")
        return data


def rows_digest(*row_lists: list[dict]) -> str:
    h = hashlib.sha256()
    for rows in row_lists:
        for row in rows:
            h.update(json.dumps(row, sort_keys=True, ensure_ascii=False).encode())
            h.update(b"\n")
        h.update(b"\x00")
    return "sha256:" + h.hexdigest()


def split_rows(rows: list[dict], fraction: float, seed: int) -> tuple[list[dict], list[dict]]:
    """Deterministic train/held-out split: the same rows and seed give the same split everywhere."""
    if len(rows) < 2:
        return list(rows), []
    order = list(range(len(rows)))
    random.Random(seed).shuffle(order)
    k = min(len(rows) - 1, max(1, round(len(rows) * fraction)))
    held = set(order[:k])
    return [r for i, r in enumerate(rows) if i not in held], [r for i, r in enumerate(rows) if i in held]


def load_sft_data(config) -> SplitData:
    """SFT rows: instruction/response pairs, chats or text, in one of the formats `formats` detects."""
    from halo_forge.data import builtin, formats, registry
    from halo_forge.data.split import RowSource, formatted, load_split

    def canonical(raw):
        if raw.spec is not None and raw.spec.formatter is not None:  # a short name's formatter gives canonical rows
            return raw.spec.name, formatted(raw), []
        return (*formats.normalise_rows(raw.rows, raw.where), [])

    return load_split(config, RowSource(registry.SFT_DATASETS, canonical, builtin.load_builtin, "prompt_completion",
                                        trainer="sft"))
