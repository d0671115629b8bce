"""MLX engine (optional extra `halo-forge[mlx]`): mlx-lm sampling from a saved copy of the policy.
Weights reach MLX through a folder the policy is saved to on each `update_weights`."""

from __future__ import annotations

import tempfile

from halo_forge.rollout.base import Sampling, check_mlx


class MLXEngine:
    name = "mlx"

    def __init__(self, model, tokenizer) -> None:
        check_mlx()
        self.tokenizer = tokenizer
        self.folder = tempfile.mkdtemp(prefix="halo-forge-mlx-")
        self.update_weights(model)

    def update_weights(self, model) -> None:
        from mlx_lm import load

        model.save_pretrained(self.folder)
        self.tokenizer.save_pretrained(self.folder)
        self.mlx_model, self.mlx_tokenizer = load(self.folder)

    def generate(self, prompts: list[str], n: int, sampling: Sampling) -> list[list[str]]:
        from mlx_lm import generate
        from mlx_lm.sample_utils import make_sampler

        sampler = make_sampler(temp=sampling.temperature, top_p=sampling.top_p)
        return [[generate(self.mlx_model, self.mlx_tokenizer, prompt=p, max_tokens=sampling.max_new_tokens,
                          sampler=sampler, verbose=False) for _ in range(n)] for p in prompts]
