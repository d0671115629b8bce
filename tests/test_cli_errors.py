"""Every bad input gets one clear `Error: …` (exit 2, no traceback) and leaves the output folder alone.

Each error case runs twice: against a fresh `--output` (which must not be created, nor any
`.partial` staging folder beside it) and against a folder holding an earlier run, with
`--overwrite` (which must be left byte-for-byte untouched).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from halo_forge.cli.main import main
from halo_forge.summary import SUMMARY_FILE, TrainingSummary, judge

HEAVY = ("torch", "transformers", "trl", "peft", "datasets", "accelerate", "bitsandbytes")
OLD_RUN_ID = "sft-old-run"


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture
def good_data(tmp_path) -> Path:
    return write_jsonl(tmp_path / "good.jsonl",
                       [{"prompt": f"{i}+1=", "completion": str(i + 1)} for i in range(8)])


def make_old_run(folder: Path) -> dict[str, bytes]:
    """An earlier run in `folder`; returns its files' bytes to compare against later."""
    folder.mkdir(parents=True)
    (folder / "model.safetensors").write_bytes(b"old weights")
    TrainingSummary(modality="sft", model_name="halo-forge/tiny", run_id=OLD_RUN_ID, seed=1,
                    effectiveness=judge([], steps=1, weights_updated=True)).write(folder)
    return snapshot(folder)


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(params=["fresh", "occupied"])
def target(request, tmp_path):
    """(extra argv, check) for an --output folder; `check()` asserts nothing was written there."""
    out = tmp_path / "runs" / "out"
    before = None
    argv = ["--output", str(out)]
    if request.param == "occupied":
        before = make_old_run(out)
        argv.append("--overwrite")

    def check() -> None:
        if before is None:
            assert not out.exists()
        else:
            assert snapshot(out) == before
        if out.parent.exists():
            assert not [p.name for p in out.parent.iterdir() if p.name.endswith(".partial")]

    return argv, check


def fails(capsys, argv: list[str], target) -> str:
    """Run `halo-forge sft train ARGV`; assert one clean error and an untouched output; return stderr."""
    extra, check = target
    rc = main(["sft", "train", *argv, *extra])
    captured = capsys.readouterr()
    err = captured.err
    assert rc == 2, captured.out + err
    assert "Traceback" not in err and "Traceback" not in captured.out
    assert err.startswith("Error: "), err
    assert err.count("Error: ") == 1, err
    check()
    return err


# --- data -------------------------------------------------------------------------------------

def test_missing_data_file(tmp_path, capsys, target):
    missing = tmp_path / "nope.jsonl"
    err = fails(capsys, ["--data", str(missing)], target)
    assert f"data file not found: {missing}" in err and "fix: check the path given to --data" in err


def test_malformed_json_line_is_named(tmp_path, capsys, target):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"prompt": "a", "completion": "b"}\n\n{"prompt": "c", "completion": "d"}\n'
                    '{"prompt": "e", "completion": }\n{"prompt": "f", "completion": "g"}\n', encoding="utf-8")
    err = fails(capsys, ["--data", str(path)], target)
    assert f"{path}:4:" in err and "malformed JSON" in err
    assert "each line of a .jsonl file must be one complete JSON object" in err


def test_rows_with_no_known_columns(tmp_path, capsys, target):
    path = write_jsonl(tmp_path / "cols.jsonl", [{"question_text": "q", "reply": "r"}])
    err = fails(capsys, ["--data", str(path)], target)
    assert f"{path}:1: row has none of the known column sets (found columns: ['question_text', 'reply'])" in err
    assert "prompt+completion" in err and "instruction+output" in err


def test_later_row_missing_detected_columns_names_its_line(tmp_path, capsys, target):
    path = tmp_path / "later.jsonl"
    path.write_text('{"prompt": "a", "completion": "b"}\n\n{"prompt": "c", "completion": "d"}\n'
                    '{"prompt": "e"}\n', encoding="utf-8")
    err = fails(capsys, ["--data", str(path)], target)
    assert f"{path}:4: row is missing completion" in err
    assert "format prompt_completion detected from the first row" in err
    assert "every row needs the columns prompt, completion" in err


def test_line_numbers_survive_unicode_line_separators(tmp_path, capsys, target):
    # U+2028 may appear raw inside a JSON string; it must not shift the reported line number.
    path = tmp_path / "sep.jsonl"
    path.write_text(json.dumps({"prompt": "a\u2028b\x85c", "completion": "d"}, ensure_ascii=False) + "\n"
                    + '{"prompt": "c", "completion": "d"}\n\n{"text": "e"}\n', encoding="utf-8")
    err = fails(capsys, ["--data", str(path)], target)
    assert f"{path}:4: row is missing prompt, completion" in err


@pytest.mark.parametrize("content, name", [("", "empty.jsonl"), ("\n\n", "blank.jsonl"), ("[]", "empty.json")])
def test_empty_dataset(tmp_path, capsys, target, content, name):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    err = fails(capsys, ["--data", str(path)], target)
    assert f"Error: {path}: the dataset is empty" in err and "add at least one row" in err


def test_unknown_dataset_short_name(capsys, target):
    err = fails(capsys, ["--dataset", "codealpacca"], target)
    assert "unknown dataset short name 'codealpacca'" in err
    assert "codealpaca" in err.split("fix:")[1] and "--data" in err


def test_multimodal_dataset_needs_vlm_trainer(capsys, target):
    err = fails(capsys, ["--dataset", "llava"], target)
    assert "dataset 'llava' is multimodal and needs the vlm trainer" in err
    assert "halo-forge vlm train --dataset llava" in err


def test_chat_row_without_assistant_turn(tmp_path, capsys, target):
    path = write_jsonl(tmp_path / "chat.jsonl", [
        {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]},
        {"messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]},
    ])
    err = fails(capsys, ["--data", str(path)], target)
    assert f"{path}:2: chat row has no assistant turn to learn from" in err
    assert "role 'assistant'" in err


# --- config and backend -----------------------------------------------------------------------

def test_unknown_optim(good_data, capsys, target):
    err = fails(capsys, ["--data", str(good_data), "--optim", "adamw_turbo"], target)
    assert "--optim (got 'adamw_turbo'): not an optimiser transformers knows" in err
    assert "adamw_torch" in err


def test_8bit_optim_without_bitsandbytes_or_gpu(good_data, capsys, target):
    err = fails(capsys, ["--data", str(good_data), "--accelerator", "cpu", "--optim", "adamw_bnb_8bit"], target)
    assert "--optim (got 'adamw_bnb_8bit'): a bitsandbytes optimiser" in err
    assert "bitsandbytes and a CUDA/ROCm GPU" in err and "use --optim adamw_torch" in err


def test_load_in_4bit_on_cpu(good_data, capsys, target):
    err = fails(capsys, ["--data", str(good_data), "--accelerator", "cpu", "--load-in-4bit"], target)
    assert "--load-in-4bit: QLoRA needs a CUDA GPU; this run is on cpu" in err
    assert "drop --load-in-4bit" in err


def test_dora_with_no_lora(good_data, capsys, target):
    err = fails(capsys, ["--data", str(good_data), "--use-dora", "--no-lora"], target)
    assert "--use-dora: needs LoRA adapters but --no-lora asks for a full fine-tune: drop one of them" in err


@pytest.mark.parametrize("flag, value, shown", [
    ("--learning-rate", "-1e-4", "-1e-4"), ("--learning-rate", "0", "0"),
    ("--batch-size", "0", "0"), ("--batch-size", "-2", "-2"),
])
def test_non_positive_learning_rate_or_batch_size(good_data, capsys, target, flag, value, shown):
    err = fails(capsys, ["--data", str(good_data), f"{flag}={value}"], target)
    assert f"{flag} (got {shown}): Input should be greater than 0" in err


def test_model_path_that_does_not_exist(good_data, tmp_path, capsys, target):
    missing = tmp_path / "models" / "no-such-model"
    err = fails(capsys, ["--data", str(good_data), "--model", str(missing)], target)
    assert f"--model {missing}: no such folder" in err and "halo-forge/tiny" in err


def test_model_folder_that_is_not_a_model(good_data, tmp_path, capsys, target):
    folder = tmp_path / "not-a-model"
    folder.mkdir()
    (folder / "notes.txt").write_text("hello")
    err = fails(capsys, ["--data", str(good_data), "--model", str(folder)], target)
    assert "is not a model folder (no config.json or adapter_config.json)" in err


# --- the output folder ------------------------------------------------------------------------

def test_output_folder_holding_another_run_is_refused(good_data, tmp_path, capsys):
    out = tmp_path / "out"
    before = make_old_run(out)
    rc = main(["sft", "train", "--data", str(good_data), "--output", str(out), "--max-steps", "1"])
    err = capsys.readouterr().err
    assert rc == 2 and "Traceback" not in err and err.count("Error: ") == 1
    assert f"--output {out.resolve()} already holds run {OLD_RUN_ID} (sft on halo-forge/tiny)" in err
    assert "pass --overwrite to replace it" in err
    assert snapshot(out) == before
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".partial")]


def test_output_folder_with_stray_files_is_refused(good_data, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    rc = main(["sft", "train", "--data", str(good_data), "--output", str(out)])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("Error: ") == 1
    assert "already holds files" in err
    assert (out / "notes.txt").read_text() == "mine"


def test_output_that_is_a_file_is_refused(good_data, tmp_path, capsys):
    out = tmp_path / "out"
    out.write_text("not a folder")
    rc = main(["sft", "train", "--data", str(good_data), "--output", str(out), "--overwrite"])
    err = capsys.readouterr().err
    assert rc == 2 and "is a file, not a folder" in err
    assert out.read_text() == "not a folder"


def test_overwrite_trains_and_replaces_the_run(good_data, tmp_path, capsys, tiny_model_path):
    out = tmp_path / "out"
    make_old_run(out)
    rc = main(["sft", "train", "--data", str(good_data), "--model", "halo-forge/tiny", "--output", str(out),
               "--overwrite", "--max-steps", "2", "--batch-size", "4", "--no-lora",
               "--eval-max-new-tokens", "4"])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert "Error:" not in captured.err
    summary = TrainingSummary.read(out / SUMMARY_FILE)
    assert summary.run_id != OLD_RUN_ID and summary.run_id.startswith("sft-")
    assert summary.total_train_steps_executed == 2
    assert summary.model_name == "halo-forge/tiny"
    assert summary.config["no_lora"] is True and summary.config["overwrite"] is True
    assert (out / "model.safetensors").read_bytes() != b"old weights"
    assert (out / "config.json").is_file()
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".partial")]


# --- importing the CLI stays light ------------------------------------------------------------

def _heavy_modules_after(code: str) -> dict:
    probe = (code + "\nimport json, sys\n"
             f"print('HEAVY=' + json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})))\n")
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=os.environ.copy(),
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    line = next(line for line in proc.stdout.splitlines() if line.startswith("HEAVY="))
    return {"loaded": json.loads(line.removeprefix("HEAVY=")), "stdout": proc.stdout}


def test_importing_the_cli_does_not_import_torch():
    assert _heavy_modules_after("import halo_forge.cli.main")["loaded"] == []


def test_help_does_not_import_torch():
    result = _heavy_modules_after(
        "from halo_forge.cli.main import main\n"
        "assert main(['--help']) == 0\n"
        "assert main(['sft', '--help']) == 0\n"
        "assert main(['sft', 'train', '--help']) == 0\n")
    assert result["loaded"] == []
    assert "Usage: halo-forge" in result["stdout"] and "--learning-rate" in result["stdout"]


def test_console_script_help_does_not_import_torch():
    """`halo-forge --help` as the installed script runs it, checked with -X importtime."""
    script = Path(sys.executable).parent / "halo-forge"
    if not script.is_file():
        pytest.skip("the halo-forge console script is not installed in this environment")
    proc = subprocess.run([sys.executable, "-X", "importtime", str(script), "--help"], capture_output=True,
                          text=True, env=os.environ.copy(), timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "Usage: halo-forge" in proc.stdout
    imported = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}
    assert "halo_forge.cli.main" in imported
    assert not {m for m in imported if m.split(".")[0] in HEAVY}


# --- the process exit ------------------------------------------------------------------------------

def test_quick_exit_keeps_the_code_the_output_and_the_exit_work(tmp_path):
    """`halo-forge` skips the interpreter's teardown (shutdown.exit_now): the exit code, output still
    buffered for a pipe, non-daemon threads and atexit handlers must all survive that."""
    code = ("import atexit, sys, threading, time\n"
            "atexit.register(lambda: open(sys.argv[1], 'a').write('atexit;'))\n"
            "threading.Thread(target=lambda: (time.sleep(0.5), open(sys.argv[1], 'a').write('thread;'))).start()\n"
            "print('x' * 100000, end='')\n"
            "from halo_forge.shutdown import exit_now\n"
            "exit_now(3)\n")
    mark = tmp_path / "mark"
    proc = subprocess.run([sys.executable, "-c", code, str(mark)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 3 and proc.stdout == "x" * 100000, proc.stderr
    assert mark.read_text() == "thread;atexit;"

    bad = subprocess.run([sys.executable, "-m", "halo_forge.cli.main", "sft", "train", "--data",
                          str(tmp_path / "missing.jsonl")], capture_output=True, text=True, timeout=120,
                         env=os.environ.copy())
    assert bad.returncode == 2 and "Error:" in bad.stderr and "missing.jsonl" in bad.stderr, bad.stderr


@pytest.mark.parametrize("argv, says", [
    (["quickstart", "--output", "x"], "No such option: --output"),  # a typer command (typer's vendored click)
    (["runs", "search", "--bogus"], "No such option: --bogus"),
    (["sft", "train", "--bogus"], "No such option '--bogus'"),  # a generated trainer group (click)
    (["nosuchcommand"], "No such command 'nosuchcommand'"),
    (["runs", "show"], "Missing argument"),
])
def test_a_mistyped_command_line_prints_usage_and_exits_2(argv, says, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("Usage: halo-forge") and says in err and "Traceback" not in err
