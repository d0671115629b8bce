"""Built-in image sets (drawn with PIL from a seed), VLM row normalisation and image loading errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from halo_forge.data import vision, vision_builtin
from halo_forge.data.media import media_digest
from halo_forge.errors import DataError
from halo_forge.verifiers import get_verifier


@pytest.fixture(scope="module")
def charts():
    return vision.load_builtin("charts")


def _png(path: Path, size=(8, 8), colour="red") -> Path:
    from PIL import Image

    Image.new("RGB", size, colour).save(path)
    return path


def test_builtin_charts_are_canonical_rows_with_known_values(charts):
    train, heldout = charts
    assert len(train) + len(heldout) == vision_builtin.SIZES["charts"] and 0.1 < len(heldout) / len(train) < 0.25
    row = train[0]
    assert row["prompt"][0]["content"][0] == {"type": "image"} and Path(row["images"][0]).is_file()
    assert row["answer"] == str(max(row["values"].values()))
    assert sorted({r["answer"] for r in train}) == [str(v) for v in range(2, 10)]  # the answer spans 2-9
    assert not {r["images"][0] for r in train} & {r["images"][0] for r in heldout}
    assert get_verifier("chart").verify(row["answer"], row).passed
    assert get_verifier("chart", field="values").verify(json.dumps(row["values"]), row).passed
    json.dumps(train)  # rows are plain JSON (paths), so they can be materialised


def test_builtin_sets_are_deterministic_across_homes(charts, tmp_path, monkeypatch):
    monkeypatch.setenv("HALO_FORGE_HOME", str(tmp_path))
    again = vision.load_builtin("charts")
    assert again[0][0]["images"][0].startswith(str(tmp_path))  # rendered afresh under the other home
    assert media_digest(*again) == media_digest(*charts)  # same pixels: same digest, whatever the paths
    assert vision_builtin.record("charts", 5, seed=1) != vision_builtin.record("charts", 5, seed=0)


def test_media_digest_follows_the_pixels(tmp_path):
    row = {"prompt": "p", "images": [str(_png(tmp_path / "a.png"))]}
    before = media_digest([row])
    _png(tmp_path / "a.png", colour="blue")
    assert media_digest([row]) != before


@pytest.mark.parametrize("name", ["shapes", "ocr", "invoices"])
def test_other_builtin_records_match_their_verifiers(name):
    rec = vision_builtin.record(name, 7)
    if name == "shapes":
        assert rec["answer"] == str(rec["count"]) and rec["shape"] in rec["question"]
    if name == "ocr":
        assert rec["answer"] == rec["text"] and len(rec["text"]) == 4
    if name == "invoices":
        row = {"expected": rec["invoice"], "schema": vision_builtin.INVOICE_SCHEMA}
        assert get_verifier("json_extract").verify(rec["answer"], row).passed


def test_registry_has_builtin_and_hub_names():
    specs = vision.VLM_DATASETS
    assert {"charts", "shapes", "ocr", "invoices"} <= set(specs)
    assert specs["chartqa"].source == "HuggingFaceM4/ChartQA" and specs["textvqa"].source == "lmms-lab/textvqa"
    assert specs["llava"].needs == "vlm" and specs["docvqa"].formatter is not None


def test_llava_and_question_rows_normalise(tmp_path):
    img = _png(tmp_path / "cat.png")
    llava = vision.normalise_row({"conversations": [{"from": "human", "value": "<image>\nWhat is this?"},
                                                    {"from": "gpt", "value": "A red square."}], "image": "cat.png"},
                                 "data.jsonl:1", base=tmp_path)
    assert llava["messages"][0]["content"] == [{"type": "image"}, {"type": "text", "text": "What is this?"}]
    assert llava["images"] == [str(img.resolve())]
    qa = vision.normalise_row({"question": "Colour?", "answers": ["red", "Red"], "image": str(img), "id": 3},
                              "data.jsonl:2")
    assert qa["completion"][0]["content"] == [{"type": "text", "text": "red"}] and qa["answer"] == ["red", "Red"]
    assert qa["id"] == 3
    listed = vision.normalise_row({"query": "Colour?", "label": ["red"], "images": [str(img)]}, "data.jsonl:4")
    assert listed["images"] == [str(img.resolve())] and listed["answer"] == ["red"]
    with pytest.raises(DataError, match=r'data\.jsonl:5: the row has 1 \{"type": "image"\} part\(s\) but no image'):
        vision.normalise_row({"question": "Colour?", "answer": "red"}, "data.jsonl:5")
    plain = vision.normalise_row({"prompt": "Colour?", "completion": "red", "image": str(img)}, "data.jsonl:3")
    assert plain["prompt"][0]["content"][0] == {"type": "image"}  # the image part is inserted (TRL's rule)


def test_missing_image_path_names_row_and_fix(tmp_path):
    with pytest.raises(DataError) as e:
        vision.normalise_row({"prompt": "q", "completion": "a", "image": "imgs/nope.png"}, "data.jsonl:4", base=tmp_path)
    assert "data.jsonl:4" in str(e.value) and "'imgs/nope.png' does not exist" in str(e.value)
    assert "relative paths are read from the data file's folder" in str(e.value)


def test_image_part_without_image_names_row():
    row = {"messages": [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What?"}]},
                        {"role": "assistant", "content": "A cat."}]}
    with pytest.raises(DataError, match=r'data\.jsonl:5: the row has 1 \{"type": "image"\} part\(s\) but no image'):
        vision.normalise_row(row, "data.jsonl:5")


def test_image_count_mismatch_and_no_assistant(tmp_path):
    img = str(_png(tmp_path / "a.png"))
    two = {"prompt": "<image><image>compare", "completion": "same", "images": [img]}
    with pytest.raises(DataError, match="2 image part.*1 image"):
        vision.normalise_row(two, "row 6")
    with pytest.raises(DataError, match="no assistant turn"):
        vision.normalise_row({"messages": [{"role": "user", "content": "hi"}], "image": img}, "row 7")


def test_corrupt_image_is_a_data_error(tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"not really a png" * 10)
    rows = [vision.normalise_row({"prompt": "q", "completion": "a", "image": str(bad)}, "data.jsonl:8")]
    with pytest.raises(DataError) as e:
        vision.load_images(rows, lambda i: f"data.jsonl:{i + 8}")
    assert "data.jsonl:8 (images[0]): cannot read image" in str(e.value) and "corrupt" in str(e.value)


def test_load_images_opens_rgb_and_limits_resolution(tmp_path):
    from PIL import Image

    Image.new("L", (300, 150), 128).save(tmp_path / "big.png")
    rows = [{"prompt": "q", "completion": "a", "images": [str(tmp_path / "big.png")]}]
    img = vision.load_images(rows, lambda i: f"row {i}", max_side=64)[0]["images"][0]
    assert img.mode == "RGB" and img.size == (64, 32)


def test_materialise_images_writes_pngs_named_by_content(tmp_path):
    from PIL import Image

    rows = [{"prompt": "q", "images": [Image.new("RGB", (4, 4), "blue")]},
            {"prompt": "r", "images": [Image.new("RGB", (4, 4), "blue")]}]
    out = vision.materialise_images(rows, tmp_path / "media")
    assert out[0]["images"] == out[1]["images"] and Path(out[0]["images"][0]).is_file()
    json.dumps(out)


def _config(**kw):
    from types import SimpleNamespace

    base = dict(data=None, dataset="shapes", seed=0, eval_split=0.25, max_samples=None, max_eval_samples=None,
                method="sft")
    return SimpleNamespace(**{**base, **kw})


def test_load_vlm_data_from_a_local_file_with_relative_paths(tmp_path):
    from halo_forge.data.media import MediaSplitData

    (tmp_path / "imgs").mkdir()
    rows = []
    for k, colour in enumerate(["red", "blue", "green", "black"]):
        _png(tmp_path / "imgs" / f"{k}.png", colour=colour)
        rows.append({"question": "Colour?", "answer": colour, "image": f"imgs/{k}.png"})
    data_file = tmp_path / "rows.jsonl"
    data_file.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    data = vision.load_vlm_data(_config(data=str(data_file)))
    assert isinstance(data, MediaSplitData) and len(data.train) == 3 and len(data.heldout) == 1
    assert Path(data.train[0]["images"][0]).is_absolute() and data.format == "vlm"
    before = data.digest
    saved = MediaSplitData.load(data.save(tmp_path / "split.json"))
    assert saved.digest == before
    _png(tmp_path / "imgs" / "0.png", colour="white")  # changed pixels: a changed digest, and a refused replay
    assert data.digest != before
    with pytest.raises(DataError, match="do not match their recorded digest"):
        MediaSplitData.load(tmp_path / "split.json")


def test_load_vlm_data_names_the_bad_line(tmp_path):
    data_file = tmp_path / "rows.jsonl"
    data_file.write_text(json.dumps({"question": "q", "answer": "a", "image": "missing.png"}) + "\n")
    with pytest.raises(DataError, match=r"rows\.jsonl:1 \(image\[0\]\): image file 'missing\.png' does not exist"):
        vision.load_vlm_data(_config(data=str(data_file)))


def test_load_vlm_data_builtin_and_hub_parquet(tmp_path, monkeypatch):
    """The built-in set by short name, and a hub-shaped parquet set with an Image column (loaded offline
    from a local path), whose images are written to files by content."""
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq
    from datasets import Features, Image as ImageFeature, Sequence, Value
    from PIL import Image

    data = vision.load_vlm_data(_config(max_samples=10, max_eval_samples=5))
    assert data.source == "builtin:shapes" and len(data.train) == 10 and len(data.heldout) == 5
    monkeypatch.setenv("HALO_FORGE_HOME", str(tmp_path / "home"))
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(buf, "PNG")
    feats = Features({"image": ImageFeature(), "query": Value("string"), "label": Sequence(Value("string"))})
    (tmp_path / "chartqa").mkdir()
    table = pa.table({"image": [{"bytes": buf.getvalue(), "path": None}] * 4, "query": ["Value of A?"] * 4,
                      "label": [["3"], ["4"], ["5"], ["6"]]}).cast(feats.arrow_schema)
    pq.write_table(table, tmp_path / "chartqa" / "train.parquet")
    hub = vision.load_vlm_data(_config(dataset=str(tmp_path / "chartqa")))
    row = hub.train[0]
    assert row["images"][0].startswith(str(tmp_path / "home" / "data" / "media")) and row["answer"][0] in "3456"
    json.dumps(hub.train)
