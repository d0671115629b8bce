"""Deployable entry point for one training run (`prefect deploy`, see prefect.yaml).

Parameters: `modality` (e.g. "sft") and `config` (that trainer's config fields as a dict).
"""

from prefect import flow

from halo_forge import registry
from halo_forge.config import build_config
from halo_forge.orchestration.run import run_training


@flow(name="halo-forge-train")
def train(modality: str, config: dict, no_cache: bool = False) -> dict:
    summary, cache_hit = run_training(build_config(registry.config_class(modality), config), no_cache=no_cache)
    return {"cache_hit": cache_hit, "summary": summary.model_dump(mode="json")}
