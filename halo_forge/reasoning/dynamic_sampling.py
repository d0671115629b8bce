"""DAPO's dynamic sampling on TRL's GRPOTrainer (TRL 1.16 does not have it).

A group whose completions all got the same reward has zero advantage: it costs a forward and backward pass
and teaches nothing. After TRL generates and scores a generation batch, such groups are dropped and fresh
prompts, drawn from the training set with the run's seed, are generated and scored in their place, for at
most ``max_rounds`` rounds per batch. If the bound is reached before the batch is full, dropped groups fill
the remaining places (their advantage is zero, so they add only to the token count the loss is normalised
by) and the batch is counted as short. The counts are in :class:`DynamicSamplingStats`, for the summary.
A checkpoint holds them with the resampling generator's state (``dynamic_sampling.json``, as TRL keeps its
entropy controller's), so a run resumed with --resume counts and resamples as an uninterrupted one would.

It overrides two steps of ``GRPOTrainer``: ``_calculate_rewards`` (to keep the batch's rewards) and
``_generate_and_score_completions`` (drop, resample, merge). Text models on a single process only; the
merge re-pads prompt (left) and completion (right) tensors of batches generated at different lengths.
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

LEFT_PADDED = ("prompt_ids", "prompt_mask")
RIGHT_PADDED = {"completion_ids": None, "completion_mask": 0, "old_per_token_logps": 0.0,
                "ref_per_token_logps": 0.0, "sampling_per_token_logps": 0.0, "tool_mask": 1,
                "importance_sampling_ratio": 1.0}
PER_ROW = {*LEFT_PADDED, *RIGHT_PADDED, "advantages"}
STATE_FILE = "dynamic_sampling.json"  # in each checkpoint folder: the counts and the resampling generator


@dataclass
class DynamicSamplingStats:
    """What dynamic sampling did over a run (summary extras)."""

    batches: int = 0            # generation batches filtered
    groups_scored: int = 0      # groups generated and scored, resampled ones included
    groups_dropped: int = 0     # groups whose rewards were all equal
    resample_rounds: int = 0    # extra generate-and-score rounds
    batches_short: int = 0      # batches that hit the bound and kept some all-equal groups
    groups_refilled: int = 0    # all-equal groups kept to complete short batches

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


def weighted_rewards(rewards_per_func, weights):
    """One reward per completion, as TRL sums them (weights applied, NaN from a reward that skipped = 0)."""
    return (rewards_per_func * weights.to(rewards_per_func.device).unsqueeze(0)).nansum(dim=1)


def all_equal_groups(rewards, group_size: int, atol: float = 1e-6):
    """A bool per group: every completion of the group got the same reward (within ``atol``)."""
    grouped = rewards.view(-1, group_size)
    return (grouped.max(dim=1).values - grouped.min(dim=1).values) <= atol


def group_rows(groups, size: int):
    """The row indices of ``groups`` (a group is ``size`` consecutive rows), on the groups' device."""
    import torch

    return (groups[:, None] * size + torch.arange(size, device=groups.device)).flatten()


def select_rows(output: dict[str, Any], rows) -> dict[str, Any]:
    """The rows ``rows`` (an index tensor) of a generate-and-score output."""
    return {k: (v[rows] if k in PER_ROW and v is not None else v) for k, v in output.items()}


def _pad_cat(tensors: list, value, left: bool):
    import torch

    width = max(t.shape[1] for t in tensors)
    padded = []
    for t in tensors:
        fill = t.new_full((t.shape[0], width - t.shape[1]), value)
        padded.append(torch.cat([fill, t] if left else [t, fill], dim=1))
    return torch.cat(padded, dim=0)


def concat_outputs(outputs: list[dict[str, Any]], pad_token_id: int) -> dict[str, Any]:
    """Outputs generated at different lengths as one batch: prompts re-padded on the left, completions and
    per-token figures on the right; ``num_items_in_batch`` recounted over the merged loss mask."""
    import torch

    keys = set(outputs[0])
    unknown = sorted(k for k in keys if k not in PER_ROW and k != "num_items_in_batch")
    if unknown:
        raise NotImplementedError(f"dynamic sampling merges text batches only; got fields {unknown}")
    merged: dict[str, Any] = {}
    for k in keys - {"num_items_in_batch"}:
        parts = [o[k] for o in outputs]
        if k == "advantages":
            merged[k] = torch.cat(parts)
        elif k in LEFT_PADDED:
            merged[k] = _pad_cat(parts, pad_token_id if k == "prompt_ids" else 0, left=True)
        else:
            value = pad_token_id if k == "completion_ids" else RIGHT_PADDED[k]
            merged[k] = _pad_cat(parts, value, left=False)
    loss_mask = merged["completion_mask"] * merged.get("tool_mask", 1)
    merged["num_items_in_batch"] = loss_mask.sum()
    return merged


def dynamic_sampling_trainer(base=None):
    """A ``GRPOTrainer`` subclass with dynamic sampling; its constructor takes ``max_resample_rounds`` (0: off)."""
    if base is None:
        from trl import GRPOTrainer as base

    class DynamicSamplingGRPOTrainer(base):
        """TRL's GRPOTrainer, dropping all-equal reward groups and resampling up to a bound (DAPO)."""

        def __init__(self, *args, max_resample_rounds: int = 3, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            if max_resample_rounds < 0:
                raise ValueError("max_resample_rounds must be >= 0")
            self.max_resample_rounds = int(max_resample_rounds)
            self.dynamic_sampling = DynamicSamplingStats()
            self._resample_rng = random.Random(self.args.seed)
            self._last_rewards = None

        def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
            rewards = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
            self._last_rewards = rewards
            return rewards

        def _scored(self, inputs):
            out = super()._generate_and_score_completions(inputs)
            flat = all_equal_groups(weighted_rewards(self._last_rewards, self.reward_weights), self.num_generations)
            return out, flat

        def _fresh_groups(self, n: int) -> list[dict]:
            picks = [self._resample_rng.randrange(len(self.train_dataset)) for _ in range(n)]
            return [self.train_dataset[i] for i in picks for _ in range(self.num_generations)]

        def _save_checkpoint(self, model, trial):
            super()._save_checkpoint(model, trial)  # before the callbacks mark the checkpoint complete
            if self.args.should_save:
                folder = Path(self._get_output_dir(trial=trial)) / f"checkpoint-{self.state.global_step}"
                state = {"stats": self.dynamic_sampling.to_dict(), "rng": self._resample_rng.getstate()}
                (folder / STATE_FILE).write_text(json.dumps(state))

        def _load_optimizer_and_scheduler(self, checkpoint):
            super()._load_optimizer_and_scheduler(checkpoint)  # called once, when resuming from `checkpoint`
            saved = Path(checkpoint) / STATE_FILE if checkpoint else None
            if saved is not None and saved.is_file():
                state = json.loads(saved.read_text())
                self.dynamic_sampling = DynamicSamplingStats(**state["stats"])
                version, internal, gauss = state["rng"]
                self._resample_rng.setstate((version, tuple(internal), gauss))

        def _generate_and_score_completions(self, inputs):
            if not self.model.training or self.max_resample_rounds == 0:
                return super()._generate_and_score_completions(inputs)
            if self.accelerator.num_processes > 1:
                raise NotImplementedError("dynamic sampling runs on a single process")
            return fill_with_varied_groups(self, inputs)

    return DynamicSamplingGRPOTrainer


def fill_with_varied_groups(trainer, inputs):
    """Score `inputs`, keep the groups whose rewards differ, resample fresh prompts for the dropped ones up to
    `trainer.max_resample_rounds` rounds, and fill what is still short with dropped groups (counted)."""
    import torch

    g, need = trainer.num_generations, len(inputs) // trainer.num_generations
    kept, dropped, n_kept, rounds = [], [], 0, 0
    stats = trainer.dynamic_sampling
    batch = inputs
    while True:
        out, flat = trainer._scored(batch)
        stats.groups_scored += len(flat)
        stats.groups_dropped += int(flat.sum())
        live = torch.nonzero(~flat).flatten()[: need - n_kept]
        if len(live):
            kept.append(select_rows(out, group_rows(live, g)))
            n_kept += len(live)
        if flat.any():
            dropped.append(select_rows(out, group_rows(torch.nonzero(flat).flatten(), g)))
        if n_kept == need or rounds == trainer.max_resample_rounds:
            break
        rounds += 1
        batch = trainer._fresh_groups(need - n_kept)
    stats.batches += 1
    stats.resample_rounds += rounds
    if n_kept < need:
        stats.batches_short += 1
        stats.groups_refilled += need - n_kept
        filler = concat_outputs(dropped, trainer._tokenizer.pad_token_id)
        kept.append(select_rows(filler, group_rows(torch.arange(need - n_kept, device=flat.device), g)))
    trainer._metrics["train"]["dynamic_sampling/groups_dropped"].append(float(stats.groups_dropped))
    trainer._metrics["train"]["dynamic_sampling/resample_rounds"].append(float(rounds))
    return concat_outputs(kept, trainer._tokenizer.pad_token_id)
