"""Which hardware backend runs a trainer, and what that backend can honour."""

from __future__ import annotations

import importlib.util
import warnings
from dataclasses import dataclass

from halo_forge.errors import BackendError

BACKENDS = ("cuda", "rocm", "mps", "cpu", "mlx")


def _torch_backend() -> str:
    import torch

    if torch.cuda.is_available():
        return "rocm" if getattr(torch.version, "hip", None) else "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return "cpu"


def mlx_available() -> bool:
    return importlib.util.find_spec("mlx") is not None


def get_backend(accelerator: str = "auto") -> str:
    """The backend to train on: auto-detected (cuda, rocm, mps, cpu) or the one asked for.

    MLX is only used when asked for (``--accelerator mlx``); asking for hardware that is not
    there is a clear error rather than a silent fallback.
    """
    if accelerator in (None, "auto"):
        return _torch_backend()
    if accelerator not in BACKENDS:
        raise BackendError(f"unknown accelerator {accelerator!r}", hint=f"choose one of auto, {', '.join(BACKENDS)}")
    if accelerator == "mlx":
        if not mlx_available():
            raise BackendError("--accelerator mlx: the mlx package is not installed",
                               hint='pip install "halo-forge[mlx]"')
        return "mlx"
    if accelerator == "cpu":
        return "cpu"
    found = _torch_backend()
    if found != accelerator:
        raise BackendError(f"--accelerator {accelerator} asked for, but this machine's torch sees {found}",
                           hint="drop --accelerator to auto-detect, or install a torch build for that hardware")
    return found


@dataclass(frozen=True)
class Capabilities:
    backend: str
    bf16: bool
    bitsandbytes: bool

    @property
    def gpu(self) -> bool:
        return self.backend in ("cuda", "rocm")


class DeferredCapabilities:
    """The capabilities of `--accelerator auto`, detected only when a check reads them: a config that
    asks for nothing hardware-specific is validated without importing torch (a cache hit stays fast)."""

    def __init__(self, accelerator: str = "auto") -> None:
        self.accelerator = accelerator
        self._caps: Capabilities | None = None

    def _detected(self) -> Capabilities:
        if self._caps is None:
            self._caps = capabilities(get_backend(self.accelerator))
        return self._caps

    def __getattr__(self, name: str):
        return getattr(self._detected(), name)


def capabilities(backend: str) -> Capabilities:
    bf16 = False
    if backend in ("cuda", "rocm"):
        import torch

        bf16 = bool(torch.cuda.is_bf16_supported())
    bnb = importlib.util.find_spec("bitsandbytes") is not None
    return Capabilities(backend=backend, bf16=bf16, bitsandbytes=bnb)


# transformers' OptimizerNames that need no import to accept (anything else is checked against the enum)
COMMON_OPTIMIZERS = frozenset({"adamw_torch", "adamw_torch_fused", "adafactor", "sgd", "adagrad", "rmsprop",
                               "lion_32bit", "adamw_bnb_8bit", "lion_8bit", "paged_adamw_8bit", "paged_adamw_32bit"})


def torch_problems(config, caps: Capabilities) -> list:
    """What the PyTorch backend cannot run for `config` (pure: nothing is loaded): an optimiser
    transformers does not know, 4-bit loading off CUDA, 8-bit optimisers without bitsandbytes, LoftQ
    off the GPU, half precision on the CPU."""
    from halo_forge.config import BNB_OPTIMIZERS, Problem

    problems: list[Problem] = []
    optim = getattr(config, "optim", None)
    if optim is not None and optim not in COMMON_OPTIMIZERS:
        from transformers.training_args import OptimizerNames

        known = sorted(o.value for o in OptimizerNames)
        if optim not in known:
            common = "adamw_torch, adamw_torch_fused, adafactor, sgd, lion_32bit, " + ", ".join(BNB_OPTIMIZERS)
            problems.append(Problem("optim", optim, f"not an optimiser transformers knows (common: {common}; all "
                                                    f"{len(known)} are listed in transformers' OptimizerNames)"))
    if optim in BNB_OPTIMIZERS and not (caps.gpu and caps.bitsandbytes):
        problems.append(Problem("optim", optim, f"a bitsandbytes optimiser: needs bitsandbytes and a CUDA/ROCm "
                                                f"GPU (backend {caps.backend}, bitsandbytes "
                                                f"{'installed' if caps.bitsandbytes else 'missing'}): use --optim "
                                                "adamw_torch"))
    if getattr(config, "load_in_4bit", False) and not (caps.gpu and caps.bitsandbytes):
        need = "a CUDA GPU" if not caps.gpu else "bitsandbytes"
        problems.append(Problem("load_in_4bit", True, f"QLoRA needs {need}; this run is on {caps.backend}"
                                + (": drop --load-in-4bit to train LoRA on full-precision weights" if not caps.gpu
                                   else ' (pip install "halo-forge[gpu]")')))
    if getattr(config, "init_lora_weights", None) == "loftq":
        # PEFT 0.21's loftq_init quantises with bitsandbytes on a CUDA/XPU device and needs scipy.
        missing = [what for what, ok in (("a CUDA/ROCm GPU", caps.gpu), ("bitsandbytes", caps.bitsandbytes),
                                         ("scipy", importlib.util.find_spec("scipy") is not None)) if not ok]
        if missing:
            problems.append(Problem("init_lora_weights", "loftq", f"needs {', '.join(missing)} (PEFT quantises the "
                                    f"base weights with bitsandbytes on the GPU; this run is on {caps.backend}): use "
                                    "--init-lora-weights pissa, olora or true, or run on a CUDA GPU with "
                                    'pip install "halo-forge[gpu]" scipy'))
    precision = getattr(config, "precision", "auto")
    if precision in ("bf16", "fp16") and not caps.gpu:
        problems.append(Problem("precision", precision, f"needs a GPU; on {caps.backend} use --precision fp32 or auto"))
    if precision == "bf16" and caps.gpu and not caps.bf16:
        problems.append(Problem("precision", precision, "this GPU has no bf16 support; use --precision fp16 or auto"))
    return problems


# Knobs no MLX trainer implements (MLX trains vanilla LoRA with AdamW): field -> (default, what is ignored).
_MLX_UNSUPPORTED = {
    "use_dora": (False, "DoRA (MLX trains vanilla LoRA)"),
    "use_rslora": (False, "rsLoRA scaling (MLX trains vanilla LoRA, scale alpha/r)"),
    "init_lora_weights": ("true", "--init-lora-weights other than the default (MLX trains vanilla LoRA)"),
    "load_in_4bit": (False, "4-bit loading (use an MLX-quantised model instead)"),
}


def warn_unsupported_for_mlx(config, extra: dict[str, tuple[object, str]] | None = None) -> list[str]:
    """Warn once per field (never silently fall back) about config values MLX cannot honour: the fields
    above plus `extra` ({field: (default, what)}); returns the messages."""
    checks = dict(_MLX_UNSUPPORTED)
    checks.update(extra or {})
    messages = []
    for field, (default, what) in checks.items():
        value = getattr(config, field, default)
        if value != default:
            flag = "--" + field.replace("_", "-")
            messages.append(f"MLX backend: {what} is not supported and is ignored "
                            f"({flag}{'' if value is True else f' {value}'})")
    for msg in messages:
        warnings.warn(msg, UserWarning, stacklevel=2)
    return messages
