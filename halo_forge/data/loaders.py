"""Reading rows from local files and the Hugging Face hub, with errors that name file and line."""

from __future__ import annotations

import json
from pathlib import Path

from halo_forge.errors import DataError

SUFFIXES = (".jsonl", ".json", ".parquet")


def read_local(path: Path) -> list[dict]:
    """Rows of a .jsonl, .json (a list, or {"data"|"rows"|"train": [...]}) or .parquet file."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"data file not found: {path}", hint="check the path given to --data")
    if path.is_dir():
        raise DataError(f"--data {path} is a folder", hint=f"pass one file ending in {', '.join(SUFFIXES)}")
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        return _read_jsonl(path)
    if suffix == ".json":
        return _read_json(path)
    if suffix == ".parquet":
        return _read_parquet(path)
    raise DataError(f"{path}: unsupported file type {suffix or '(none)'!r}",
                    hint=f"use a file ending in {', '.join(SUFFIXES)}")


def _read_jsonl(path: Path) -> list[dict]:
    rows = []
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}:{lineno}:{exc.colno}: malformed JSON: {exc.msg}",
                                hint="each line of a .jsonl file must be one complete JSON object") from None
    return rows


def _read_json(path: Path) -> list[dict]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}:{exc.lineno}:{exc.colno}: malformed JSON: {exc.msg}",
                        hint="fix the JSON syntax there (a .json file holds one list of row objects)") from None
    if isinstance(data, dict):
        for key in ("data", "rows", "train"):
            if isinstance(data.get(key), list):
                return data[key]
        raise DataError(f"{path}: expected a list of rows (or an object with a 'data' list), got an object "
                        f"with keys {sorted(data)[:8]}")
    if not isinstance(data, list):
        raise DataError(f"{path}: expected a list of rows, got {type(data).__name__}")
    return data


def _read_parquet(path: Path) -> list[dict]:
    try:
        import pyarrow.parquet as pq

        return pq.read_table(path).to_pylist()
    except Exception as exc:  # pyarrow raises many types for a broken file
        raise DataError(f"{path}: cannot read parquet: {exc}") from None


def row_locator(path: Path):
    """A function giving 'file:line' (jsonl) or 'file[row]' for row index i."""
    path = Path(path)
    if path.suffix.lower() == ".jsonl":
        # split on "\n" only, as `_read_jsonl` does: str.splitlines() also breaks on U+2028, U+0085 …,
        # which JSON strings may hold raw, and would shift every later line number
        lines = [n for n, line in enumerate(path.read_text(encoding="utf-8").split("\n"), 1) if line.strip()]
        return lambda i: f"{path}:{lines[i] if i < len(lines) else i + 1}"
    return lambda i: f"{path}[row {i}]"


def load_hub(repo_id: str, config: str | None = None, split: str = "train") -> list[dict]:
    """Rows of a hub dataset via `datasets` (or its local cache when offline)."""
    try:
        from datasets import load_dataset

        ds = load_dataset(repo_id, config, split=split)
    except Exception as exc:
        raise DataError(f"cannot load dataset {repo_id!r}{f' ({config})' if config else ''} split {split!r}: "
                        f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}",
                        hint="check the name (`halo-forge sft datasets` lists short names), your network "
                             "and HF_TOKEN, or pass a local file with --data") from None
    return ds.to_list()
