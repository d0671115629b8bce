"""Resolve a run's inputs to content: materialised rows, model files, verifier, trainer code.

Standard library + pydantic only, so a cache hit is answered without importing torch or Prefect.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from halo_forge import registry
from halo_forge.lineage import digests
from halo_forge.models.loading import resolve_model
from halo_forge.paths import home
from halo_forge.workspace import Workspace

# Config fields that say where the data came from rather than what it is: the rows' digest stands in.
NOT_IN_KEY = {"data"}
DATA_FIELDS = ("dataset", "data", "max_samples", "eval_split", "max_eval_samples", "seed")


@dataclass
class ResolvedInputs:
    data_file: Path
    dataset_digest: str
    dataset_source: str
    model_ref: str
    model_digest: str
    verifier: str | None
    code_digest: str
    cache_key: str

    def lineage(self) -> dict:
        return {"dataset_digest": self.dataset_digest, "model_digest": self.model_digest,
                "verifier": self.verifier, "cache_key": self.cache_key, "code_digest": self.code_digest}


def _data_memo_key(config) -> str | None:
    """For local files: a key from the file's stat and the loading fields, so unchanged files aren't re-read."""
    if config.data is None:
        return None
    path = Path(config.data)
    try:
        st = path.stat()
    except OSError:
        return None
    fields = {f: str(getattr(config, f, None)) for f in DATA_FIELDS}
    return digests.sha256_json([str(path.resolve()), st.st_size, st.st_mtime_ns, fields, config.modality])


def materialise(config, ws: Workspace) -> tuple[Path, str, str]:
    """(file of the exact train/held-out rows, their digest, source); rows are read once per change."""
    memo_key = _data_memo_key(config)
    memo = home() / "digests" / f"data-{memo_key.split(':')[1]}.json" if memo_key else None
    if memo is not None and memo.is_file():
        rec = json.loads(memo.read_text())
        data_file = ws.datasets_dir / rec["file"]
        if data_file.is_file() and all(_stamp(ref) == was for ref, was in rec.get("media", {}).items()):
            return data_file, rec["digest"], rec["source"]
    data = registry.load_data(config)
    digest = data.digest
    data_file = ws.datasets_dir / f"{digest.split(':')[1][:32]}.json"
    if not data_file.is_file():
        data.save(data_file)
    if memo is not None:
        memo.parent.mkdir(parents=True, exist_ok=True)
        tmp = memo.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"file": data_file.name, "digest": digest, "source": data.source,
                                   **({"media": _media_stamps(data)} if data.media else {})}))
        os.replace(tmp, memo)
    return data_file, digest, data.source


def _media_stamps(data) -> dict[str, list | None]:
    """Size and mtime of every media file the rows point at: the memo is stale once one of them changes
    (the rows file itself may not: an image rewritten behind the same path)."""
    from halo_forge.data.media import media_refs

    return {ref: _stamp(ref) for rows in (data.train, data.heldout) for row in rows for ref in media_refs(row)}


def _stamp(path: str) -> list | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns]


def resolve_inputs(config, ws: Workspace) -> ResolvedInputs:
    data_file, dataset_digest, source = materialise(config, ws)
    model_ref = resolve_model(config.model)
    model_digest = digests.model_digest(model_ref)
    verifier = digests.verifier_identity(config)
    code = digests.code_digest(config.modality)
    fields = {k: v for k, v in config.result_fields().items() if k not in NOT_IN_KEY}
    key = digests.cache_key(modality=config.modality, config_fields=fields, dataset_digest=dataset_digest,
                            model_digest=model_digest, verifier=verifier, code_digest=code)
    return ResolvedInputs(data_file=data_file, dataset_digest=dataset_digest, dataset_source=source,
                          model_ref=model_ref, model_digest=model_digest, verifier=verifier, code_digest=code,
                          cache_key=key)
