"""Deployable entry point for a post-training recipe (`prefect deploy`, see prefect.yaml)."""

from prefect import flow

from halo_forge.orchestration.run import run_recipe


@flow(name="halo-forge-post-training")
def post_training(recipe: str = "recipes/quickstart.yaml", no_cache: bool = False) -> list[dict]:
    return run_recipe(recipe, no_cache=no_cache)
