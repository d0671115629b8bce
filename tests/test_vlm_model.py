"""The built-in tiny VLM `halo-forge/tiny-llava`: a deterministic random-init LLaVA with a PIL-only
processor, loadable with plain transformers, generating from image prompts (smoke test)."""

from __future__ import annotations

import importlib.util
import json

import pytest

from halo_forge.data import vision
from halo_forge.errors import ModelError
from halo_forge.models import tiny, tiny_vlm
from halo_forge.models.loading import folder_digest, resolve_model
from halo_forge.models.vlm import freeze, generate, heldout_figures, load_vlm
from halo_forge.verifiers import get_verifier

NAME = "halo-forge/tiny-llava"


@pytest.fixture(scope="module")
def llava_path():
    return tiny.ensure_tiny(NAME)


@pytest.fixture(scope="module")
def shapes():
    return vision.load_builtin("shapes")


def test_resolves_like_the_text_tiny_models(llava_path):
    assert tiny.is_tiny(NAME) and resolve_model(NAME) == str(llava_path)
    assert tiny.tiny_path(NAME) == llava_path and llava_path.parent.name == "models"
    meta = json.loads((llava_path / "halo_forge_tiny.json").read_text())
    assert meta["name"] == NAME and meta["image_size"] == 64
    assert tiny.ensure_tiny(NAME) == llava_path  # cached


def test_build_is_deterministic_across_homes(llava_path, tmp_path, monkeypatch):
    monkeypatch.setenv("HALO_FORGE_HOME", str(tmp_path))
    again = tiny.ensure_tiny(NAME)
    assert again != llava_path and again.name == llava_path.name
    assert folder_digest(again) == folder_digest(llava_path)


def test_loads_with_auto_classes_and_no_torchvision(llava_path):
    from transformers import AutoModelForImageTextToText, AutoProcessor

    assert importlib.util.find_spec("torchvision") is None  # the point: it works without torchvision
    proc = AutoProcessor.from_pretrained(llava_path)
    model = AutoModelForImageTextToText.from_pretrained(llava_path)
    assert type(model).__name__ == "LlavaForConditionalGeneration"
    assert type(proc).__name__ == "LlavaProcessor" and type(proc.image_processor).__name__ == "CLIPImageProcessorPil"
    assert 500_000 < sum(p.numel() for p in model.parameters()) < 3_000_000
    assert model.config.image_token_id == proc.tokenizer.convert_tokens_to_ids("<image>")
    assert model.config.text_config.vocab_size == len(proc.tokenizer)


def test_template_and_processor_expand_the_image(llava_path, shapes):
    from PIL import Image

    _, proc = load_vlm(NAME)
    row = shapes[0][0]
    text = proc.apply_chat_template(row["prompt"] + row["completion"], tokenize=False)
    assert text.startswith("<|im_start|>user\n<image>How many") and text.endswith(
        f"<|im_start|>assistant\n{row['answer']}<|im_end|>\n")
    enc = proc(images=[Image.open(row["images"][0])], text=[text], return_tensors="pt")
    image_id = proc.tokenizer.convert_tokens_to_ids("<image>")
    assert int((enc["input_ids"] == image_id).sum()) == tiny_vlm.TinyVLMSpec().image_tokens
    assert tuple(enc["pixel_values"].shape) == (1, 3, 64, 64)


def test_generate_and_score_heldout_rows(shapes):
    model, proc = load_vlm(NAME)
    rows = shapes[1][:6]
    outs = generate(model, proc, rows, max_new_tokens=3, n=2, do_sample=True)
    assert len(outs) == 6 and all(len(o) == 2 and all(isinstance(t, str) for t in o) for o in outs)
    figures = heldout_figures(model, proc, rows, get_verifier("vqa"), max_new_tokens=3)
    assert figures["samples"] == 6 and 0.0 <= figures["pass_rate"] <= 1.0  # random init: ~0


def test_freeze_vision_tower_and_projector():
    model, _ = load_vlm(NAME)
    total = sum(p.numel() for p in model.parameters())
    counts = freeze(model, vision_tower=True)
    assert counts["frozen_parameters"] > 0 and counts["trainable_parameters"] == total - counts["frozen_parameters"]
    assert not any(p.requires_grad for n, p in model.named_parameters() if "vision_tower" in n)
    assert all(p.requires_grad for n, p in model.named_parameters() if "multi_modal_projector" in n)
    both = freeze(model, vision_tower=True, projector=True)
    assert both["frozen_parameters"] > counts["frozen_parameters"]


def test_text_only_model_is_refused(tiny_model_path):
    with pytest.raises(ModelError):
        load_vlm("halo-forge/tiny")
