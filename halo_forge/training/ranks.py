"""Which process of a multi-process run this is (`accelerate launch` sets RANK and WORLD_SIZE).

Every rank runs the same `train()`; rank 0 alone writes: it opens and publishes the output folder, marks
checkpoints complete and writes the summary. The shared helpers (`staged_run`, `run.checkpoints`,
`save_model`, `build_summary`) ask `is_main()`, so a trainer's recipe reads the same in one process or many.
"""

from __future__ import annotations

import os


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main() -> bool:
    """True in a single-process run, and in rank 0 of a multi-process one."""
    return rank() == 0


def barrier() -> None:
    """Wait for every rank (a no-op in one process, or before transformers has joined the process group)."""
    if world_size() <= 1:
        return
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
