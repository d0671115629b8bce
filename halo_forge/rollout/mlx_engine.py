"""MLX engine (optional extra `halo-forge[mlx]`): mlx-lm sampling from the current policy, on Apple silicon or
Linux CPU.

    engine = MLXEngine(policy, tokenizer, seed=0)     # policy: a torch HF model (RAFT hybrid) or an MLX model
    engine.generate(prompts, n=8, sampling)           # -> list[list[str]]
    engine.update_weights(policy)                     # each cycle, after the update

A torch policy's weights are copied into an MLX model in memory (a PEFT model is merged into a copy first);
an MLX policy is sampled from directly. Each `generate` call with the same seed and weights returns the same
samples: the engine seeds MLX from (seed, call number).
"""

from __future__ import annotations

from halo_forge.rollout.base import Sampling, check_mlx


class MLXEngine:
    name = "mlx"

    def __init__(self, model, tokenizer, *, seed: int = 0) -> None:
        check_mlx()
        self.tokenizer, self.seed, self.calls = tokenizer, int(seed), 0
        self.mlx_model, self.owns_copy = None, False
        self.update_weights(model)

    def update_weights(self, model) -> None:
        from halo_forge.mlx import weights

        if _is_mlx(model):
            self.mlx_model, self.owns_copy = model, False
        elif self.owns_copy:  # our MLX copy of a torch policy: refresh its weights in place
            weights.load_torch_weights(self.mlx_model, weights.merged_view(model))
        else:
            self.mlx_model, self.owns_copy = weights.from_torch(model), True

    def generate(self, prompts: list[str], n: int, sampling: Sampling) -> list[list[str]]:
        from halo_forge.mlx.sampling import decode, sample
        from halo_forge.mlx.weights import hf_tokenizer

        tok = hf_tokenizer(self.tokenizer)
        ids = [tok(p, add_special_tokens=False)["input_ids"] for p in prompts]
        outs = sample(self.mlx_model, self.tokenizer, ids, n=n, temperature=sampling.temperature,
                      top_p=sampling.top_p, max_tokens=sampling.max_new_tokens, seed=self.seed + self.calls)
        self.calls += 1
        return [[decode(self.tokenizer, c) for c in group] for group in outs]


def _is_mlx(model) -> bool:
    return type(model).__module__.startswith("mlx")
