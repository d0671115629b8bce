"""The audio trainer's config: the field groups it honours (schedule, held-out evaluation, checkpoints, the RL
rollout, GRPO's group, RAFT's cycles) plus its own knobs: the task, the method, the clips' sampling rate.

No LoRA fields: speech models are trained in full (the tiny ones, and Whisper-sized ones on one GPU)."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field

from halo_forge.config import CheckpointFields, GenerationEvalFields, Problem, ScheduleFields, TrainConfig, set_but_unused
from halo_forge.rl import GroupFields, Method, RAFTFields, RolloutFields, method_problems

# methods → the fields only they use (set for another method, each is a ConfigError naming the method)
METHOD_FIELDS = {
    ("grpo",): ("num_generations", "no_scale_rewards"),
    ("raft",): ("cycles", "samples_per_prompt", "prompts_per_cycle", "keep_percent", "reward_threshold",
                "min_samples"),
    ("grpo", "raft"): ("temperature", "max_completion_length", "rollout_engine"),
    ("sft", "grpo"): ("checkpoint_every",),
}
# fields only transcription uses: a classification run that sets one is told so
ASR_FIELDS = ("verifiers", "verifier_weights", "verifier_args", "unsafe_verifier_execution", "eval_max_new_tokens")


class AudioConfig(CheckpointFields, GenerationEvalFields, RAFTFields, GroupFields, RolloutFields, ScheduleFields,
                  TrainConfig):
    """Speech: ASR (a Whisper-style seq2seq model; SFT, RAFT or GRPO against the WER verifier) or audio
    classification (cross-entropy on the labels), judged on held-out WER or accuracy."""

    modality: ClassVar[str] = "audio"
    summary: ClassVar[str] = "Speech: ASR (SFT, RAFT or GRPO with a WER reward) or audio classification."
    train_help: ClassVar[str] = ("Train a speech model: --task asr (Whisper-style; --method sft, raft or grpo) or "
                                 "--task classification.")
    example: ClassVar[str] = ("halo-forge audio train \\\n  --task asr --method sft --dataset spoken_digits "
                              "--model halo-forge/tiny-whisper \\\n  --max-steps 300 --batch-size 32 --learning-rate 2e-3 "
                              "--lr-scheduler constant")
    datasets: ClassVar[str] = "halo_forge.data.audio:AUDIO_DATASETS"

    model: str = Field("halo-forge/tiny-whisper", description="Base model: a hub id or folder (Whisper-style for asr; Whisper, Wav2Vec2, HuBERT, AST … for classification), halo-forge/tiny-whisper or halo-forge/tiny-audio-cls.")
    output: Path = Field(Path("outputs/audio"), description="Folder for the model and training_summary.json.")
    task: Literal["asr", "classification"] = Field("asr", description="asr: transcripts (rows need 'text'), judged on held-out WER; classification: integer labels (rows need 'label'), judged on held-out accuracy.")
    method: Method = Field("sft", description="sft: learn the transcripts or labels; raft (asr): sample transcripts, keep what the verifiers pass, fine-tune on them, in cycles; grpo (asr): sample a group of transcripts per clip, learn from their rewards.")
    batch_size: int = Field(8, gt=0, description="Per-device batch size: rows per step (grpo: completions per step, a multiple of --num-generations).")
    sampling_rate: int | None = Field(None, ge=8000, le=192000, description="Require every clip at this rate (Hz): a clip at another rate is an error naming its row. Default: accept 8-192 kHz and resample to the model's rate.")
    verifiers: list[str] = Field(["wer"], description="Verifier(s) scoring transcripts (asr): wer (reward max(0, 1 - WER); --verifier-arg metric=cer for CER) …; on the command line --verifier NAME, repeatable.")
    rollout_engine: Literal["auto", "torch"] = Field("auto", description="Sampling engine: transformers' generate (auto and torch alike: the audio trainer has no vLLM or MLX path).")
    temperature: float = Field(1.0, gt=0, description="Sampling temperature of the rollouts (raft, grpo).")
    max_completion_length: int = Field(32, gt=0, description="Maximum tokens per sampled transcript (raft, grpo).")
    eval_max_new_tokens: int = Field(32, gt=0, description="Tokens generated per held-out clip when measuring WER (asr).")
    resume: bool = Field(False, description="Continue an interrupted run with the same config: from its last checkpoint (sft, grpo) or after its last finished cycle (raft).")

    def _check(self) -> list[Problem]:
        problems = method_problems(self, METHOD_FIELDS)
        if self.task == "classification":
            if self.method != "sft":
                problems.append(Problem("method", self.method, "classification trains with cross-entropy on the "
                                        "labels: use --method sft (raft and grpo sample transcripts: --task asr)"))
            problems += set_but_unused(self, {name: "applies to --task asr only (transcripts scored by the "
                                              "verifiers); this run is --task classification: drop it"
                                              for name in ASR_FIELDS})
        return problems
