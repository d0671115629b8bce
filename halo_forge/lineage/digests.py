"""Content digests of a run's inputs and the cache key built from them (standard library only).

A run's cache key is the digest of: the result-affecting config fields, the materialised dataset
rows, the base model's files, the verifier identity and the trainer's code. Any changed byte in
any of them gives a different key.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from halo_forge.paths import home

PACKAGE = Path(__file__).resolve().parents[1]
# Files beside a model that are records of the run, not the model: excluded from model digests.
NOT_MODEL = frozenset({"training_summary.json", "training_args.bin", "README.md", "halo_forge_run.json"})
# Modules every trainer's result depends on, besides its own folder (mlx: the MLX trainers' shared pieces).
SHARED_CODE = ("config.py", "backend.py", "training", "evaluation.py", "summary.py", "data", "models", "mlx")
# what the RL trainers (GRPO, RAFT) share besides (the verifiers enter the key through their own identity)
RL_CODE = ("rl.py", "rollout")
# trainers built from other trainers' code: that code is theirs too (VLM and audio reuse RAFT's cycles)
REUSED_CODE = {"grpo": RL_CODE, "raft": RL_CODE, "reasoning": ("sft", "grpo", "raft", "verifiers", *RL_CODE),
               "agentic": ("raft", "verifiers", *RL_CODE), "vlm": (*RL_CODE, "raft"), "audio": (*RL_CODE, "raft")}


def sha256_json(obj) -> str:
    blob = json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(blob.encode()).hexdigest()


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


def _tree_files(root: Path, suffixes: tuple[str, ...] | None = None, exclude: frozenset = frozenset()) -> list[Path]:
    files = []
    for p in sorted(root.rglob("*")):
        if not p.is_file() or "__pycache__" in p.parts or p.name.startswith(".") or p.name in exclude:
            continue
        if suffixes is None or p.suffix in suffixes:
            files.append(p)
    return files


def tree_digest(root: Path, suffixes: tuple[str, ...] | None = None, exclude: frozenset = frozenset()) -> str:
    """Digest of every file's relative name and bytes under `root` (a single file works too)."""
    root = Path(root)
    if root.is_file():
        return file_digest(root)
    h = hashlib.sha256()
    for f in _tree_files(root, suffixes, exclude):
        h.update(str(f.relative_to(root)).encode() + b"\0")
        h.update(file_digest(f).encode() + b"\n")
    return "sha256:" + h.hexdigest()


def model_digest(ref: str) -> str:
    """Digest of a local model folder's files, memoised by (path, size, mtime) so big models hash once.

    A hub id that is not downloaded locally is identified by name (and HF revision if pinned).
    """
    path = Path(ref)
    if not path.exists():
        return "hub:" + ref
    stamp = [(str(f.relative_to(path)) if path.is_dir() else f.name, f.stat().st_size, f.stat().st_mtime_ns)
             for f in (_tree_files(path, exclude=NOT_MODEL) if path.is_dir() else [path])]
    memo_key = hashlib.sha256(json.dumps([str(path.resolve()), stamp]).encode()).hexdigest()
    memo = home() / "digests" / f"{memo_key}.txt"
    if memo.is_file():
        return memo.read_text().strip()
    digest = tree_digest(path, exclude=NOT_MODEL)
    memo.parent.mkdir(parents=True, exist_ok=True)
    tmp = memo.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(digest)
    os.replace(tmp, memo)
    return digest


def code_digest(modality: str) -> str:
    """Digest of the trainer's own folder plus the shared modules its results depend on."""
    h = hashlib.sha256()
    for name in (modality, *SHARED_CODE, *REUSED_CODE.get(modality, ())):
        target = PACKAGE / name
        if target.exists():
            h.update(name.encode() + b"\0" + tree_digest(target, (".py", ".jinja", ".json")).encode())
    return "sha256:" + h.hexdigest()


def verifier_identity(config) -> str | None:
    """The identity of a run's verifiers (names, options, weights, each verifier's source digest), None without
    one. The one function both the cache key (`orchestration.inputs`) and replay's drift check use."""
    return getattr(config, "verifier", None)


def cache_key(*, modality: str, config_fields: dict, dataset_digest: str, model_digest: str,
              verifier: str | None, code_digest: str) -> str:
    return sha256_json({"modality": modality, "config": config_fields, "dataset": dataset_digest,
                        "model": model_digest, "verifier": verifier, "code": code_digest})
