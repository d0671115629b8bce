"""The MLX training loop: what transformers' `Trainer.train` does for the PyTorch trainers, around an MLX step.

    fit = loop.fit(model, optimizer, steps.sft_loss, batch_for, total=100, plan=plan["loop"],
                   callbacks=run.callbacks, checkpoints=run.state)       # -> training.Fit

`batch_for(k)` returns step k's micro-batches (tuples of arrays for the loss function) and any metrics of its own
(GRPO's rewards); it runs with the model in eval mode (sampling, reference log-probabilities), the step in train
mode. Each step:
  - reseeds MLX's generator from (--seed, step), so LoRA dropout draws the same masks in a resumed run;
  - runs `halo_forge.mlx.steps.make_train_step` (forward inside value_and_grad, gradients averaged over the
    micro-batches, clipped at 1.0, AdamW; mx.compile);
  - tells the run's callbacks (progress, MLflow, the checkpoint marker) what transformers' Trainer tells them:
    on_step_end, then on_log every --logging-steps with the window's mean loss and metrics, then on_save.
A checkpoint (`checkpoint-<step>/` in the run's state folder, every --checkpoint-every steps, two kept) holds the
trainable weights, the optimiser state (moments, step) and the log so far; --resume restores them and continues:
batches are a pure function of (seed, step), so the resumed run ends where an uninterrupted one does.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Callable

from halo_forge.training.run import Fit

TRAINABLE = "trainable.safetensors"
OPTIMIZER = "optimizer.safetensors"
STATE = "trainer_state.json"
KEEP = 2  # checkpoints kept: a kill while the newest is written leaves the one before it whole


def total_steps(n_rows: int, loop: dict) -> int:
    """--max-steps, else --epochs over `n_rows` rows (optimiser steps per epoch as transformers counts them)."""
    if loop["max_steps"] > 0:
        return loop["max_steps"]
    per_epoch = max(math.ceil(n_rows / loop["batch_size"]) // loop["gradient_accumulation"], 1)
    return max(1, math.ceil(loop["epochs"] * per_epoch))


def row_batches(n_rows: int, loop: dict) -> Callable[[int], list[list[int]]]:
    """The row indices of step k's micro-batches: consecutive batches of --batch-size over a permutation of the
    rows drawn afresh each epoch from (--seed, epoch); --gradient-accumulation batches per step."""
    import numpy as np

    size, accum = loop["batch_size"], loop["gradient_accumulation"]
    per_epoch = max(1, math.ceil(n_rows / size))
    orders: dict[int, list[int]] = {}

    def rows_for(k: int) -> list[list[int]]:
        out = []
        for j in range(k * accum, (k + 1) * accum):
            epoch, b = divmod(j, per_epoch)
            if epoch not in orders:
                orders[epoch] = np.random.RandomState((loop["seed"] + epoch) % 2**32).permutation(n_rows).tolist()
            out.append(orders[epoch][b * size:(b + 1) * size])
        return out

    return rows_for


def fit(model, optimizer, loss_fn, batch_for: Callable[[int], tuple[list[tuple], dict]], *, total: int, plan: dict,
        callbacks: list, checkpoints=None) -> Fit:
    """Train `model` for `total` optimiser steps (from the last checkpoint with --resume); whether its trainable
    weights moved. `plan` is the trainer plan's "loop" section."""
    import mlx.core as mx

    from halo_forge.mlx import steps
    from halo_forge.mlx.trainer import evaluating

    before = snapshot(model)
    start, history, loss_sum = restore(checkpoints, model, optimizer)
    step = steps.make_train_step(model, optimizer, loss_fn, compile=plan["compile"])
    state, control, args = _trainer_state(total, plan, start, history, checkpoints)
    _call(callbacks, "on_train_begin", args, state, control)
    window: list[dict] = []
    t0 = time.monotonic()
    for k in range(start, total):
        with evaluating(model):
            micro, metrics = batch_for(k)
        model.train()
        mx.random.seed(plan["seed"] * 1_000_003 + k)
        result = step(micro)
        loss_sum += result.loss
        window.append({"loss": result.loss, **metrics, **_floats(result.aux)})
        state.global_step = k + 1
        control.should_log = state.global_step % plan["logging_steps"] == 0
        control.should_save = bool(plan["checkpoint_every"]) and state.global_step % plan["checkpoint_every"] == 0
        control = _call(callbacks, "on_step_end", args, state, control)
        if control.should_log:
            logs = {**_mean(window), "grad_norm": result.grad_norm, "learning_rate": float(optimizer.learning_rate)}
            state.log_history.append({**logs, "step": state.global_step})
            control = _call(callbacks, "on_log", args, state, control, logs=logs)
            control.should_log, window = False, []
        if control.should_save and checkpoints is not None:
            save(checkpoints.dir, state, model, optimizer, loss_sum)
            control = _call(callbacks, "on_save", args, state, control)
            control.should_save = False
    seconds = time.monotonic() - t0
    model.eval()
    state.log_history.append({"train_loss": loss_sum / max(total, 1), "step": total})
    _call(callbacks, "on_train_end", args, state, control)
    changed, delta = moved(model, before)
    return Fit(steps=total, seconds=seconds, moved=changed, delta_l2=delta, log_history=list(state.log_history))


def _trainer_state(total: int, plan: dict, start: int, history: list[dict], checkpoints):
    """transformers' TrainerState / TrainerControl for the callbacks, and the few TrainingArguments they read."""
    from transformers import TrainerControl, TrainerState

    state = TrainerState(max_steps=total, logging_steps=plan["logging_steps"], global_step=start,
                         save_steps=plan["checkpoint_every"] or 500, train_batch_size=plan["batch_size"])
    state.log_history = list(history)
    args = SimpleNamespace(logging_steps=plan["logging_steps"], max_steps=total, save_steps=plan["checkpoint_every"],
                           output_dir=str(checkpoints.dir) if checkpoints is not None else None, seed=plan["seed"])
    return state, TrainerControl(), args


def _call(callbacks: list, event: str, args, state, control, **kwargs):
    for cb in callbacks:
        result = getattr(cb, event)(args, state, control, **kwargs)
        if result is not None:
            control = result
    return control


def _floats(aux) -> dict:
    """The loss function's metrics as floats (one dict per micro-batch: averaged); a token count is not one."""
    items = aux if isinstance(aux, list) else [aux]
    dicts = [a for a in items if isinstance(a, dict)]
    return {k: sum(float(d[k]) for d in dicts) / len(dicts) for k in dicts[0]} if dicts else {}


def _mean(window: list[dict]) -> dict:
    keys = {k for entry in window for k in entry}
    return {k: sum(e[k] for e in window if k in e) / sum(1 for e in window if k in e) for k in sorted(keys)}


def snapshot(model, *, every_weight: bool = False) -> dict:
    """A copy of the trainable weights (of every weight with `every_weight`: RAFT replaces the model each cycle)."""
    import numpy as np

    from halo_forge.mlx.lora import trainable_weights
    from halo_forge.mlx.weights import weights_of

    return {k: np.array(v, copy=True) for k, v in (weights_of if every_weight else trainable_weights)(model).items()}


def moved(model, before: dict) -> tuple[bool, float]:
    """(any weight in `before` moved, L2 norm of the change), as training.weights_changed reports it."""
    import numpy as np

    from halo_forge.mlx.weights import weights_of

    total = sum(float(np.sum((np.array(v, dtype=np.float64) - before[k].astype(np.float64)) ** 2))
                for k, v in weights_of(model).items() if k in before)
    return total > 0.0, total ** 0.5


def save(folder: Path, state, model, optimizer, loss_sum: float) -> Path:
    """Write `checkpoint-<step>/` (trainable weights, optimiser state, log); keep the newest KEEP."""
    import mlx.core as mx
    from mlx.utils import tree_flatten

    from halo_forge.mlx.lora import trainable_weights
    target = Path(folder) / f"checkpoint-{state.global_step}"
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    mx.save_safetensors(str(target / TRAINABLE), dict(sorted(trainable_weights(model).items())))
    mx.save_safetensors(str(target / OPTIMIZER), dict(tree_flatten(optimizer.state)))
    (target / STATE).write_text(json.dumps({"global_step": state.global_step, "log_history": state.log_history,
                                            "loss_sum": loss_sum}, indent=1) + "\n")
    older = sorted((p for p in Path(folder).glob("checkpoint-*") if p != target),
                   key=lambda p: int(p.name.rsplit("-", 1)[-1]))
    for old in older[:len(older) - (KEEP - 1)]:
        shutil.rmtree(old, ignore_errors=True)
    return target


def restore(checkpoints, model, optimizer) -> tuple[int, list[dict], float]:
    """(step to start from, log so far, summed loss so far): 0, [], 0.0 unless resuming from a checkpoint,
    whose trainable weights and optimiser state are loaded into `model` and `optimizer`."""
    import mlx.core as mx
    from mlx.utils import tree_unflatten

    folder = checkpoints.resume_from if checkpoints is not None else None
    if folder is None:
        return 0, [], 0.0
    model.load_weights(list(mx.load(str(folder / TRAINABLE)).items()), strict=False)
    optimizer.state = tree_unflatten(list(mx.load(str(folder / OPTIMIZER)).items()))
    saved = json.loads((folder / STATE).read_text())
    return int(saved["global_step"]), list(saved["log_history"]), float(saved["loss_sum"])
