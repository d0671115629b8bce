"""GRPO on a speech seq2seq model (Whisper-style), which TRL's GRPOTrainer does not take (it concatenates
prompt and completion ids of a causal LM).

`TranscriptGRPO` is a transformers `Trainer` whose loss samples the group: each step takes
`batch_size / num_generations` clips, samples `num_generations` transcripts per clip from the current
policy, rewards them with the verifiers (WER by default), and takes one gradient step on

    loss = -mean_over_transcripts(advantage × log p(transcript | clip) / tokens),
    advantage = (reward - group mean) / group std        (no std division with --no-scale-rewards)

— TRL's GRPO loss with beta 0 and one update per sampled batch (its importance ratio is then 1 and the
clipping never acts). What it leaves out: a KL term to a reference model, and several updates per batch.
The log-probability is that of each sampled transcript's tokenisation by the model's tokenizer (what SFT
trains on). Being a `Trainer`, it logs, streams metrics to the callbacks, checkpoints and resumes (RNG
states included: a resumed run samples what an uninterrupted one does) like every other trainer.
"""

from __future__ import annotations

from transformers import Trainer

from halo_forge import rl
from halo_forge.models import audio as speech


class TranscriptGRPO(Trainer):
    """A `Trainer` whose loss is GRPO's on transcripts sampled from the model being trained."""

    def __init__(self, *args, processor, verifiers, group: dict, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.processor, self.verifiers, self.group = processor, verifiers, group
        self._window: dict[str, list[float]] = {"reward": [], "reward_std": [], "frac_reward_zero_std": []}

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        import torch

        n, waves, rows = self.group["num_generations"], inputs["waves"], inputs["rows"]
        samples = speech.transcribe(model, self.processor, waves, n=n, do_sample=True,
                                    temperature=self.group["temperature"], max_new_tokens=self.group["max_new_tokens"],
                                    batch_size=len(waves))
        texts = [t for group in samples for t in group]
        scored = rl.score(self.verifiers, texts, [row for row in rows for _ in range(n)])
        rewards = torch.tensor([s["reward"] for s in scored], dtype=torch.float32).view(-1, n)
        advantages = rewards - rewards.mean(dim=1, keepdim=True)
        std = rewards.std(dim=1, keepdim=True)
        if self.group["scale_rewards"]:
            advantages = advantages / (std + 1e-4)
        self._note(rewards, std)
        labels = speech.label_ids(self.processor.tokenizer, texts, model.config.decoder_start_token_id)
        batch = speech.seq2seq_batch(self.processor, [w for w in waves for _ in range(n)], labels)
        batch = {k: v.to(self.args.device) for k, v in batch.items()}
        tokens = (batch["labels"] != -100).sum(dim=-1).clamp(min=1)
        logp = speech.transcript_logprobs(model, batch) / tokens
        loss = -(advantages.flatten().to(logp.device) * logp).mean()
        return (loss, None) if return_outputs else loss

    def _note(self, rewards, std) -> None:
        self._window["reward"].append(float(rewards.mean()))
        self._window["reward_std"].append(float(std.mean()))
        self._window["frac_reward_zero_std"].append(float((std < 1e-6).float().mean()))

    def log(self, logs: dict, *args, **kwargs) -> None:
        """The rewards of the steps since the last log, beside the loss (as TRL's GRPO logs them)."""
        if "loss" in logs and self._window["reward"]:
            logs.update({k: sum(v) / len(v) for k, v in self._window.items()})
            for v in self._window.values():
                v.clear()
        super().log(logs, *args, **kwargs)


def collate(items: list[dict]) -> dict:
    """A GRPO batch: the clips' samples and their rows (the verifiers' ground truth)."""
    return {"waves": [x["wave"] for x in items], "rows": [x["row"] for x in items]}
