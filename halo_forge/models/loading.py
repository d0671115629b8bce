"""Resolving model names (hub id, local folder, LoRA adapter folder, halo-forge/tiny) and loading them."""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path

from halo_forge.errors import HubUnreachableError, ModelError
from halo_forge.models import tiny

_PATHLIKE = ("/", "./", "../", "~")

# A plain template for models that ship none, so chat rows still train (saved with the model).
PLAIN_CHAT_TEMPLATE = (
    "{%- for m in messages %}### {{ m['role'] }}:\n{{ m['content'] }}"
    "{%- if m['role'] == 'assistant' %}{{ eos_token }}{%- endif %}\n\n{%- endfor %}"
    "{%- if add_generation_prompt %}### assistant:\n{%- endif %}"
)


def ensure_chat_template(tokenizer) -> str | None:
    """Give a tokenizer without a chat template the plain one; returns a note for the summary when it did."""
    if tokenizer.chat_template is not None:
        return None
    tokenizer.chat_template = PLAIN_CHAT_TEMPLATE
    return "the model has no chat template: chat rows use a plain '### role:' template"


def resolve_model(name: str) -> str:
    """A loadable reference for `name`: the tiny model's folder, a local folder, or the hub id itself."""
    name = str(name)
    if tiny.is_tiny(name):
        return str(tiny.ensure_tiny(name))
    path = Path(name).expanduser()
    if path.exists():
        if not path.is_dir() or not ((path / "config.json").is_file() or (path / "adapter_config.json").is_file()):
            raise ModelError(f"--model {name}: {path} is not a model folder (no config.json or adapter_config.json)",
                             hint="point --model at a folder written by save_pretrained, or pass a hub id")
        return str(path.resolve())
    if name.startswith(_PATHLIKE) or name.count("/") > 1 or name.endswith((".bin", ".safetensors")):
        raise ModelError(f"--model {name}: no such folder",
                         hint="check the path, or pass a hub id such as Qwen/Qwen2.5-0.5B or halo-forge/tiny")
    check_hub(name)
    return name


# --- a hub id is usable: in the local cache, or the hub answers ------------------------------------
HUB_TIMEOUT_S = 5.0
_HUB_OK: set[str] = set()
OFFLINE_HINT = ("pass a local model folder (--model ./my-model, saved with save_pretrained), the built-in "
                "halo-forge/tiny, or download the model once where the hub is reachable (huggingface-cli download "
                "ID) so it is in the local cache")


def _offline() -> bool:
    return any(os.environ.get(k, "").strip().lower() in ("1", "true", "yes", "on")
               for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def _cached(name: str) -> bool:
    """Whether the hub model `name` is in the local Hugging Face cache (a config of a model or adapter)."""
    from huggingface_hub import try_to_load_from_cache

    return any(isinstance(try_to_load_from_cache(name, f), str) for f in ("config.json", "adapter_config.json"))


def _hub_answers(name: str, timeout: float) -> str | None:
    """None when the hub endpoint answers for `name` within `timeout` s (any HTTP status), else why not.

    Runs in a thread joined with a deadline: a hanging DNS lookup is not covered by socket timeouts."""
    import urllib.error
    import urllib.request

    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")
    result: list[str | None] = ["no answer within %g s" % timeout]

    def probe() -> None:
        try:
            urllib.request.urlopen(urllib.request.Request(f"{endpoint}/api/models/{name}", method="HEAD"),
                                   timeout=timeout)
            result[0] = None
        except urllib.error.HTTPError:
            result[0] = None  # it answered (401/404 …): the loader reports what it said
        except (OSError, ValueError) as exc:
            result[0] = str(getattr(exc, "reason", exc))

    worker = threading.Thread(target=probe, daemon=True)
    worker.start()
    worker.join(timeout)
    return result[0]


def check_hub(name: str, *, timeout: float = HUB_TIMEOUT_S) -> None:
    """Raise HubUnreachableError (one line, within `timeout` s) unless hub id `name` can be loaded: it is in the
    local cache, or the hub answers (HF_HUB_OFFLINE=1 means it cannot)."""
    if name in _HUB_OK or _cached(name):
        _HUB_OK.add(name)
        return
    if _offline():
        raise HubUnreachableError(f"--model {name}: not in the local Hugging Face cache, and HF_HUB_OFFLINE is set",
                                  hint=OFFLINE_HINT)
    why = _hub_answers(name, timeout)
    if why is not None:
        endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
        raise HubUnreachableError(f"--model {name}: the hub ({endpoint}) cannot be reached ({why}) and the model is "
                                  "not in the local cache", hint=OFFLINE_HINT)
    _HUB_OK.add(name)


def adapter_base(path: str) -> str | None:
    """The base model of a LoRA adapter folder, or None when `path` is a full model."""
    cfg = Path(path) / "adapter_config.json"
    if Path(path).is_dir() and cfg.is_file() and not (Path(path) / "config.json").is_file():
        return json.loads(cfg.read_text())["base_model_name_or_path"]
    return None


def load_tokenizer(ref: str):
    from transformers import AutoTokenizer

    base = adapter_base(ref)
    try:
        tok = AutoTokenizer.from_pretrained(ref if (Path(ref) / "tokenizer_config.json").exists() or not base
                                            else resolve_model(base))
    except OSError as exc:
        raise ModelError(f"cannot load the tokenizer of {ref!r}: {str(exc).splitlines()[0]}",
                         hint="check the model name and your network, or pass a local folder") from None
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    # Where it was loaded from (HF_HUB_OFFLINE) is not part of the tokenizer: keep saved files identical.
    tok.init_kwargs.pop("local_files_only", None)
    return tok


def _unfrozen(model):
    """Merged weights train like any loaded model's (PEFT froze the base while the adapter was attached)."""
    for p in model.parameters():
        if p.is_floating_point():
            p.requires_grad_(True)
    return model


def _load(auto_class, ref: str, **kwargs):
    """`auto_class.from_pretrained(ref)`; a LoRA adapter folder is loaded on its base and merged, so stages
    can chain. Keyword arguments that are None are left out."""
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    base = adapter_base(ref)
    try:
        if base is None:
            return auto_class.from_pretrained(ref, **kwargs)
        from peft import PeftModel

        model = auto_class.from_pretrained(resolve_model(base), **kwargs)
        return _unfrozen(PeftModel.from_pretrained(model, ref).merge_and_unload())
    except OSError as exc:
        raise ModelError(f"cannot load model {ref!r}: {str(exc).splitlines()[0]}",
                         hint="check the model name and your network (or HF_TOKEN), or pass a local folder") from None


def load_causal_lm(ref: str, *, dtype=None, quantization_config=None, device_map=None):
    """A causal LM (a LoRA adapter folder: its base with the adapter merged)."""
    from transformers import AutoModelForCausalLM

    return _load(AutoModelForCausalLM, ref, dtype=dtype, quantization_config=quantization_config,
                 device_map=device_map)


def load_sequence_classifier(ref: str, *, dtype=None, quantization_config=None, num_labels: int = 1):
    """A sequence-classification (reward) model (a LoRA adapter folder: its base with the adapter merged)."""
    from transformers import AutoModelForSequenceClassification

    return _load(AutoModelForSequenceClassification, ref, num_labels=num_labels, dtype=dtype,
                 quantization_config=quantization_config)


def peft_config(config, task_type: str = "CAUSAL_LM"):
    """The PEFT LoraConfig for the shared LoRA block; None for a full fine-tune."""
    if config.no_lora:
        return None
    from peft import LoftQConfig, LoraConfig

    init = {"true": True, "false": False}.get(config.init_lora_weights, config.init_lora_weights)
    targets = config.lora_target_modules
    target_modules = targets if targets == "all-linear" else [t.strip() for t in targets.split(",") if t.strip()]
    return LoraConfig(
        # float(): a default of 32 and a replayed 32.0 must write the same adapter_config.json
        r=int(config.lora_rank), lora_alpha=float(config.lora_alpha), lora_dropout=float(config.lora_dropout),
        target_modules=target_modules, use_dora=config.use_dora, use_rslora=config.use_rslora,
        init_lora_weights=init, task_type=task_type,
        loftq_config=LoftQConfig(loftq_bits=4) if init == "loftq" else {},
    )


# LoRA inits that rewrite the base weights (W_res = W - A0·B0): the trained adapter only fits that
# mutated base unless it is converted, when saved, into a plain LoRA against the initial adapter.
MUTATING_INITS = ("pissa", "olora")


def save_initial_adapter(model, config, folder: Path) -> Path | None:
    """For PiSSA/OLoRA, save the freshly initialised adapter (call before any step); None otherwise.

    DoRA is left unconverted (PEFT's conversion keeps only lora_A/lora_B and would drop the
    magnitude vector): its config keeps the init, which PEFT re-applies (deterministic SVD/QR)
    to the original base when the adapter is loaded.
    """
    if config.no_lora or config.use_dora or config.init_lora_weights not in MUTATING_INITS:
        return None
    path = Path(folder) / "initial_adapter"
    model.save_pretrained(str(path))
    return path


def finish_adapter(model, folder: Path, *, model_name: str, initial: Path | None = None) -> None:
    """Make the adapter saved in `folder` load on the *original* base model, its config in canonical form.

    PiSSA/OLoRA adapters are re-saved converted to a plain LoRA of rank 2r (PEFT's
    `path_initial_model_for_weight_conversion`); adapters of the built-in tiny models name the
    tiny model (rebuilt identically anywhere) rather than this machine's cache folder.
    """
    import shutil

    folder = Path(folder)
    if initial is not None:
        model.save_pretrained(str(folder), path_initial_model_for_weight_conversion=str(initial))
        shutil.rmtree(initial, ignore_errors=True)
    cfg_file = folder / "adapter_config.json"
    if cfg_file.is_file():
        data = json.loads(cfg_file.read_text())
        if tiny.is_tiny(model_name):
            data["base_model_name_or_path"] = model_name
        cfg_file.write_text(canonical_adapter_config(data))


# adapter_config.json fields PEFT fills from a set: written in string-hash order, which changes per process
SET_FIELDS = ("target_modules", "exclude_modules", "modules_to_save")


def canonical_adapter_config(data: dict) -> str:
    """adapter_config.json as text that depends on nothing but its content: set-valued lists and keys sorted,
    so two processes saving the same adapter write the same bytes."""
    for key in SET_FIELDS:
        if isinstance(data.get(key), list) and all(isinstance(v, str) for v in data[key]):
            data[key] = sorted(data[key])
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def folder_digest(path: Path) -> str:
    """Content digest of a saved model's files (run records such as the summary excluded)."""
    from halo_forge.lineage.digests import NOT_MODEL, tree_digest

    return tree_digest(Path(path), exclude=NOT_MODEL)
