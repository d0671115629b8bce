"""Prefect orchestration: every training run goes through `train_flow`, cached by content.

The CLI calls `run_training(config)`: a cache hit is answered from the recorded result without
importing Prefect (0.26 s in process, 1.5-1.75 s for a whole CLI process on the shared 2-core machine;
docs/FLOWS.md, docs/BENCHMARKS.md); a miss starts (or reuses) the local Prefect server and
runs `train_flow`, whose `train` task is cached on the content-addressed key and, on a real run,
trains, tracks (MLflow), indexes (DuckDB) and records the replay stage (DVC).
"""

from halo_forge.orchestration.run import run_training

__all__ = ["run_training"]
