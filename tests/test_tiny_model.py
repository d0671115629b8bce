"""The built-in tiny models: deterministic builds, a usable tokenizer, loadable with plain transformers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from halo_forge.models import tiny
from halo_forge.models.loading import folder_digest, load_causal_lm, load_tokenizer, resolve_model

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def one_thread():
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matmuls: extra threads only contend on a shared 2-core machine
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def tiny_qwen2_path():
    return tiny.ensure_tiny("halo-forge/tiny-qwen2")


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_build_is_deterministic_across_homes(tiny_model_path, tmp_path, monkeypatch):
    import torch

    monkeypatch.setenv("HALO_FORGE_HOME", str(tmp_path / "other-home"))
    torch.manual_seed(1234)
    rng = torch.get_rng_state()
    again = tiny.ensure_tiny("halo-forge/tiny")
    assert torch.equal(torch.get_rng_state(), rng)  # the seeded build leaves the caller's RNG alone
    assert again != tiny_model_path
    assert again.parent == tmp_path / "other-home" / "models"
    assert again.name == tiny_model_path.name  # the folder name carries the spec digest, not the home
    first, second = _files(tiny_model_path), _files(again)
    assert sorted(first) == sorted(second)
    for name in ("model.safetensors", "tokenizer.json", "config.json"):
        assert name in first
    differing = [name for name in first if first[name] != second[name]]
    assert differing == []
    assert folder_digest(tiny_model_path) == folder_digest(again)
    assert not list(again.parent.glob(".*"))  # no staging folder left behind


def test_second_call_reuses_the_cache(tiny_model_path):
    before = (tiny_model_path / "model.safetensors").stat().st_mtime_ns
    assert tiny.ensure_tiny("halo-forge/tiny") == tiny_model_path
    assert (tiny_model_path / "model.safetensors").stat().st_mtime_ns == before


def test_names_resolve_to_the_cache(tiny_model_path):
    assert tiny.is_tiny("halo-forge/tiny") and tiny.is_tiny("halo-forge/tiny-qwen2")
    assert not tiny.is_tiny("Qwen/Qwen2.5-0.5B")
    assert resolve_model("halo-forge/tiny") == str(tiny_model_path)
    meta = json.loads((tiny_model_path / "halo_forge_tiny.json").read_text())
    assert meta["name"] == "halo-forge/tiny" and meta["architecture"] == "llama"
    # different specs never share a cache folder
    assert tiny.tiny_path("halo-forge/tiny") != tiny.tiny_path("halo-forge/tiny-qwen2")


def test_tokenizer_has_template_pad_eos(tiny_model_path):
    tok = load_tokenizer(str(tiny_model_path))
    assert tok.eos_token == "<|im_end|>" and tok.pad_token == "<|endoftext|>"
    assert tok.pad_token_id is not None and tok.eos_token_id is not None
    assert tok.pad_token_id != tok.eos_token_id
    assert tok.chat_template and "{% generation %}" in tok.chat_template
    msgs = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is 47+38?"},
            {"role": "assistant", "content": "85"}]
    text = tok.apply_chat_template(msgs, tokenize=False)
    assert text == ("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nWhat is 47+38?<|im_end|>\n"
                    "<|im_start|>assistant\n85<|im_end|>\n")
    prompt = tok.apply_chat_template(msgs[:2], tokenize=False, add_generation_prompt=True)
    assert prompt.endswith("<|im_start|>assistant\n")
    # the special tokens are single tokens
    for special in ("<|im_start|>", "<|im_end|>", "<|endoftext|>"):
        assert len(tok(special, add_special_tokens=False)["input_ids"]) == 1
    # the {% generation %} markers give an assistant mask over exactly the reply (and its end token)
    enc = tok.apply_chat_template(msgs, tokenize=True, return_dict=True, return_assistant_tokens_mask=True)
    ids = enc["input_ids"]
    masked = [i for i, m in zip(ids, enc["assistant_masks"]) if m]
    assert tok.decode(masked) == "85<|im_end|>"


@pytest.mark.parametrize("text", ["1234567890", "What is 47+38?", "x=100009 and y=-42", " 7 8 9"])
def test_one_token_per_digit(tiny_model_path, text):
    tok = load_tokenizer(str(tiny_model_path))
    ids = tok(text, add_special_tokens=False)["input_ids"]
    pieces = [tok.decode([i]) for i in ids]
    assert tok.decode(ids) == text  # byte-level: lossless
    digits = [p for p in pieces if any(c.isdigit() for c in p)]
    assert digits == [c for c in text if c.isdigit()], pieces  # each digit its own token, nothing attached


def test_every_single_digit_is_one_token(tiny_model_path):
    tok = load_tokenizer(str(tiny_model_path))
    ids = {d: tok(d, add_special_tokens=False)["input_ids"] for d in "0123456789"}
    assert all(len(v) == 1 for v in ids.values())
    assert len({v[0] for v in ids.values()}) == 10


@pytest.mark.parametrize("name,model_type,cls_name", [
    ("halo-forge/tiny", "llama", "LlamaForCausalLM"),
    ("halo-forge/tiny-qwen2", "qwen2", "Qwen2ForCausalLM"),
])
def test_loads_with_auto_model(name, model_type, cls_name, tiny_model_path, tiny_qwen2_path):
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    path = tiny_model_path if name == "halo-forge/tiny" else tiny_qwen2_path
    assert (path / "config.json").is_file()
    config = AutoConfig.from_pretrained(path)
    assert config.model_type == model_type
    model = AutoModelForCausalLM.from_pretrained(path).eval()
    tok = AutoTokenizer.from_pretrained(path)
    assert type(model).__name__ == cls_name
    n_params = sum(p.numel() for p in model.parameters())
    assert 500_000 < n_params < 2_000_000, n_params  # ~1M
    assert model.config.vocab_size == len(tok)
    assert model.config.pad_token_id == tok.pad_token_id
    assert model.generation_config.eos_token_id == tok.eos_token_id
    assert model.config.tie_word_embeddings
    enc = tok(["What is 12+34?"], return_tensors="pt", add_special_tokens=False)
    with torch.no_grad():
        logits = model(**enc).logits
    assert logits.shape == (1, enc["input_ids"].shape[1], len(tok))
    assert torch.isfinite(logits).all()
    out = model.generate(**enc, max_new_tokens=3, do_sample=False, pad_token_id=tok.pad_token_id)
    assert out.shape[1] <= enc["input_ids"].shape[1] + 3
    # halo-forge's own loader by name gives the same weights
    ours = load_causal_lm(resolve_model(name))
    a, b = model.state_dict(), ours.state_dict()
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_architectures_differ_but_share_the_tokenizer(tiny_model_path, tiny_qwen2_path):
    assert (tiny_model_path / "tokenizer.json").read_bytes() == (tiny_qwen2_path / "tokenizer.json").read_bytes()
    assert folder_digest(tiny_model_path) != folder_digest(tiny_qwen2_path)
