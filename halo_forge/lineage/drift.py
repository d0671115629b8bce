"""Drift: what differs between the inputs a run recorded and the ones a replay would use now.

Four kinds, each checked before a replay trains anything:

- environment: package versions (halo_forge, torch, transformers, trl, peft, python, ...), the
  trainer's code digest and the backend (cpu, cuda, ...);
- data: the digest of the materialised dataset file's rows;
- model: the digest of the base model's files;
- verifier: the verifier's identity.

A missing input (dataset file deleted, local model folder gone) is not drift but an error: there
is nothing to replay on.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from halo_forge.errors import DataError, ModelError


@dataclass(frozen=True)
class Drift:
    kind: str  # environment | data | model | verifier
    what: str  # e.g. "torch", "dataset rows", "base model halo-forge/tiny"
    recorded: Any
    current: Any

    def __str__(self) -> str:
        return f"{self.kind}: {self.what} {_short(self.recorded)} -> {_short(self.current)}"

    def as_dict(self) -> dict:
        return asdict(self)


def _short(value: Any) -> str:
    text = "none" if value is None else str(value)
    if text.startswith("sha256:"):
        return text[:19]  # sha256: + 12 hex digits is plenty to tell two digests apart
    return text


def dataset_file_digest(path: Path) -> str:
    """The rows digest of a materialised dataset file (the same digest `SplitData.digest` gives)."""
    from halo_forge.data import rows_digest

    path = Path(path)
    if not path.is_file():
        raise DataError(f"the run's dataset file is missing: {path}",
                        hint="restore it (git checkout / dvc checkout), or re-run the original training")
    try:
        blob = json.loads(path.read_text(encoding="utf-8"))
        if blob.get("media"):  # rows that point at image or audio files: the digest hashes their bytes
            from halo_forge.data.media import media_digest

            return media_digest(blob["train"], blob["heldout"])
        return rows_digest(blob["train"], blob["heldout"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DataError(f"{path}: not a materialised halo-forge dataset ({exc})",
                        hint="restore the file, or re-run the original training") from None


def base_model_ref(manifest: dict) -> str:
    """The loadable reference of the run's base model now (the tiny model is rebuilt if absent)."""
    from halo_forge.models.loading import resolve_model

    base = manifest.get("base_model") or {}
    if base.get("path"):  # a local folder, recorded as an absolute path
        if not Path(base["path"]).exists():
            raise ModelError(f"the run's base model folder is missing: {base['path']}",
                             hint="restore the folder, or re-run the original training")
        return resolve_model(base["path"])
    return resolve_model(base.get("name") or manifest["config"]["model"])  # built-in tiny or hub id


def recorded_config(manifest: dict):
    """The run's config rebuilt from the manifest with its trainer's config class (ConfigError if it no longer
    validates)."""
    from pydantic import ValidationError

    from halo_forge import registry
    from halo_forge.errors import ConfigError

    try:
        return registry.config_class(manifest["modality"]).model_validate(manifest["config"])
    except ValidationError as exc:
        raise ConfigError(f"replay/{manifest.get('run_id')}: the recorded config no longer validates:\n{exc}",
                          hint="this halo-forge version changed the config; replay with the recorded version") from None


def current_environment(manifest: dict) -> dict[str, Any]:
    """Versions, code digest and backend as they are now (imports torch for the backend)."""
    from halo_forge.backend import get_backend
    from halo_forge.lineage.digests import code_digest
    from halo_forge.training import versions

    return {"versions": versions(), "code": code_digest(manifest["modality"]),
            "backend": get_backend(manifest["config"].get("accelerator", "auto"))}


def check(manifest: dict, root: Path) -> list[Drift]:
    """Every drift between `manifest` and the inputs a replay in workspace `root` would use now.

    Raises DataError/ModelError when an input is missing altogether.
    """
    found: list[Drift] = []
    digests = manifest.get("digests", {})

    data_now = dataset_file_digest(Path(root) / manifest["dataset_file"])
    if data_now != digests.get("dataset"):
        found.append(Drift("data", f"dataset rows ({manifest['dataset_file']})", digests.get("dataset"), data_now))

    recorded_model = digests.get("model")
    if recorded_model is not None:
        from halo_forge.lineage.digests import model_digest

        model_now = model_digest(base_model_ref(manifest))
        if model_now != recorded_model:
            found.append(Drift("model", f"base model {manifest['config']['model']}", recorded_model, model_now))

    env = current_environment(manifest)
    for pkg, was in sorted(manifest.get("versions", {}).items()):
        now = env["versions"].get(pkg)
        if now != was:
            found.append(Drift("environment", pkg, was, now))
    if digests.get("code") and env["code"] != digests["code"]:
        found.append(Drift("environment", f"{manifest['modality']} trainer code", digests["code"], env["code"]))
    if manifest.get("backend") and env["backend"] != manifest["backend"]:
        found.append(Drift("environment", "backend", manifest["backend"], env["backend"]))

    verifier = manifest.get("verifier")
    if verifier is not None:
        from halo_forge.lineage.digests import verifier_identity

        now = verifier_identity(recorded_config(manifest))  # exactly what the cache key used
        if now != verifier:
            found.append(Drift("verifier", ", ".join(manifest["config"].get("verifiers") or []) or "verifier",
                               verifier, now))
    return found
