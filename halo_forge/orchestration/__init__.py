"""Prefect orchestration: every training run goes through `train_flow`, cached by content.

The CLI calls `run_training(config)`: a cache hit is answered from the recorded result without
importing Prefect (well under a second); a miss starts (or reuses) the local Prefect server and
runs `train_flow`, whose `train` task is cached on the content-addressed key and, on a real run,
trains, tracks (MLflow), indexes (DuckDB) and records the replay stage (DVC).
"""

from halo_forge.orchestration.run import run_training

__all__ = ["run_training"]
