"""vLLM engine (optional extra `halo-forge[vllm]`, CUDA only): an in-process `vllm.LLM` whose weights are
reloaded from the policy after each update. Not runnable on CPU-only machines (checked up front)."""

from __future__ import annotations

from halo_forge.rollout.base import Sampling, check_vllm


class VLLMEngine:
    name = "vllm"

    def __init__(self, model, tokenizer, *, gpu_memory_utilization: float = 0.3, model_ref: str | None = None) -> None:
        check_vllm()
        from vllm import LLM  # noqa: PLC0415

        self.tokenizer = tokenizer
        self.llm = LLM(model=model_ref or model.config._name_or_path, gpu_memory_utilization=gpu_memory_utilization,
                       enable_sleep_mode=False)
        self.update_weights(model)

    def sampling_params(self, n: int, sampling: Sampling):
        from vllm import SamplingParams

        return SamplingParams(n=n, temperature=sampling.temperature, top_p=sampling.top_p,
                              max_tokens=sampling.max_new_tokens)

    def generate(self, prompts: list[str], n: int, sampling: Sampling) -> list[list[str]]:
        outs = self.llm.generate(prompts, self.sampling_params(n, sampling), use_tqdm=False)
        return [[c.text for c in o.outputs] for o in outs]

    def update_weights(self, model) -> None:
        state = model.state_dict() if not hasattr(model, "merge_and_unload") else model.merge_and_unload().state_dict()
        engine = self.llm.llm_engine.model_executor.driver_worker.model_runner.model
        engine.load_weights(state.items())
