"""Config precedence (CLI > YAML > defaults) through the real CLI, and config errors reported at once."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

import halo_forge.cli.trainers as cli_trainers
from halo_forge.cli.main import main
from halo_forge.config import build_config, read_yaml
from halo_forge.errors import ConfigError
from halo_forge.sft.config import SFTConfig

# The example from the issue: every one of these flags must be a real `sft train` option.
EXAMPLE_FLAGS = ["--dataset", "--data", "--model", "--epochs", "--max-steps", "--batch-size",
                 "--gradient-accumulation", "--lora-rank", "--lora-alpha", "--use-dora", "--use-rslora",
                 "--init-lora-weights", "--learning-rate", "--optim", "--output", "--seed", "--no-lora",
                 "--load-in-4bit", "--overwrite", "--config"]


@pytest.fixture
def captured(monkeypatch):
    """Run the real CLI, but capture the validated config instead of training."""
    configs: list[SFTConfig] = []
    monkeypatch.setattr(cli_trainers, "run_train", lambda config, **run_options: configs.append(config))
    return configs


def write_yaml(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def cli_config(captured, argv: list[str]) -> SFTConfig:
    rc = main(["sft", "train", *argv])
    assert rc == 0
    assert len(captured) == 1
    return captured[0]


def assert_one_error(rc: int, err: str) -> str:
    assert rc == 2
    assert "Traceback" not in err
    assert err.startswith("Error: ")
    assert err.count("Error: ") == 1
    return err


# --- precedence -------------------------------------------------------------------------------

def test_defaults_fill_every_field_not_given(captured):
    cfg = cli_config(captured, ["--data", "rows.jsonl"])
    assert cfg.data == Path("rows.jsonl") and cfg.dataset is None
    assert cfg.model == "halo-forge/tiny"
    assert cfg.epochs == 3.0  # SFT's own default, overriding the shared 1.0
    assert cfg.output == Path("outputs/sft")
    assert cfg.learning_rate == 2e-4 and cfg.batch_size == 2 and cfg.max_steps == -1
    assert cfg.no_lora is False and cfg.use_dora is False and cfg.init_lora_weights == "true"
    assert cfg.optim == "adamw_torch" and cfg.seed == 42


def test_cli_beats_yaml_beats_defaults(tmp_path, captured):
    yaml_path = write_yaml(tmp_path / "run.yaml", """
        dataset: arithmetic
        epochs: 5
        batch_size: 8
        learning-rate: 1e-3      # dashed keys work like the flags; YAML 1.1 reads 1e-3 as a string
        lora_rank: 4
        use_rslora: true
        seed: 7
        """)
    cfg = cli_config(captured, ["--config", str(yaml_path), "--batch-size", "3", "--lora-rank", "32",
                                "--seed", "0"])
    # CLI wins where given (0 is a real value, not "unset")
    assert cfg.batch_size == 3 and cfg.lora_rank == 32 and cfg.seed == 0
    # YAML wins over defaults where the CLI is silent
    assert cfg.dataset == "arithmetic" and cfg.epochs == 5.0 and cfg.learning_rate == 1e-3
    assert cfg.use_rslora is True
    # defaults fill the rest
    assert cfg.lora_alpha == 32 and cfg.gradient_accumulation == 1 and cfg.model == "halo-forge/tiny"


def test_unset_cli_flag_does_not_reset_yaml_true(tmp_path, captured):
    yaml_path = write_yaml(tmp_path / "run.yaml", """
        data: rows.jsonl
        no_lora: true
        overwrite: true
        """)
    cfg = cli_config(captured, ["--config", str(yaml_path), "--epochs", "1"])
    assert cfg.no_lora is True and cfg.overwrite is True and cfg.epochs == 1.0


def test_cli_data_source_replaces_yaml_data_source(tmp_path, captured):
    yaml_path = write_yaml(tmp_path / "run.yaml", "dataset: codealpaca\nepochs: 2\n")
    cfg = cli_config(captured, ["--config", str(yaml_path), "--data", "mine.jsonl"])
    assert cfg.data == Path("mine.jsonl") and cfg.dataset is None and cfg.epochs == 2.0

    yaml_path = write_yaml(tmp_path / "run2.yaml", "data: mine.jsonl\n")
    cfg = build_config(SFTConfig, {"dataset": "arithmetic"}, yaml_path)
    assert cfg.dataset == "arithmetic" and cfg.data is None


def test_both_data_sources_on_one_level_is_an_error(tmp_path, capsys):
    yaml_path = write_yaml(tmp_path / "run.yaml", "dataset: arithmetic\ndata: rows.jsonl\n")
    with pytest.raises(ConfigError, match="choose one"):
        build_config(SFTConfig, {}, yaml_path)
    rc = main(["sft", "train", "--dataset", "arithmetic", "--data", "rows.jsonl"])
    err = assert_one_error(rc, capsys.readouterr().err)
    assert "--dataset 'arithmetic' and --data 'rows.jsonl' both given: choose one" in err


def test_no_data_source_is_an_error(capsys):
    rc = main(["sft", "train", "--epochs", "1"])
    err = assert_one_error(rc, capsys.readouterr().err)
    assert "--dataset NAME or --data FILE" in err


def test_every_example_flag_is_in_help(capsys):
    assert main(["sft", "train", "--help"]) == 0
    help_text = capsys.readouterr().out
    for flag in EXAMPLE_FLAGS:
        assert f"  {flag} " in help_text or f"  {flag}\n" in help_text, flag
    assert "[pissa|loftq|olora|gaussian|true|false]" in help_text


@pytest.mark.parametrize("init", ["pissa", "olora", "gaussian", "true", "false"])
def test_full_example_parses(init, captured):
    cfg = cli_config(captured, [
        "--dataset", "codealpaca", "--model", "Qwen/Qwen2.5-Coder-3B", "--epochs", "3", "--max-steps", "10",
        "--batch-size", "2", "--gradient-accumulation", "16", "--lora-rank", "16", "--lora-alpha", "32",
        "--use-dora", "--use-rslora", "--init-lora-weights", init, "--learning-rate", "1e-4",
        "--optim", "adamw_torch_fused", "--output", "out/x", "--seed", "3"])
    assert (cfg.dataset, cfg.model, cfg.epochs, cfg.max_steps) == ("codealpaca", "Qwen/Qwen2.5-Coder-3B", 3.0, 10)
    assert (cfg.batch_size, cfg.gradient_accumulation, cfg.lora_rank, cfg.lora_alpha) == (2, 16, 16, 32.0)
    assert cfg.use_dora and cfg.use_rslora and not cfg.load_in_4bit and not cfg.no_lora
    assert cfg.init_lora_weights == init
    assert (cfg.learning_rate, cfg.optim, cfg.output, cfg.seed) == (1e-4, "adamw_torch_fused", Path("out/x"), 3)


def test_gpu_only_flags_are_refused_with_the_config_on_cpu(capsys, captured):
    """QLoRA and LoftQ need a CUDA GPU: on this CPU machine they are reported in the one config error,
    beside the config's own mistakes, before anything starts."""
    rc = main(["sft", "train", "--dataset", "codealpaca", "--load-in-4bit", "--init-lora-weights", "loftq",
               "--lora-rank", "0"])
    err = assert_one_error(rc, capsys.readouterr().err)
    assert "--lora-rank (got 0): Input should be greater than 0" in err
    assert "--load-in-4bit: QLoRA needs a CUDA GPU; this run is on cpu" in err
    assert "--init-lora-weights (got 'loftq'): needs a CUDA/ROCm GPU" in err
    assert captured == []


def test_no_lora_parses(captured):
    cfg = cli_config(captured, ["--data", "rows.jsonl", "--no-lora", "--learning-rate", "5e-5"])
    assert cfg.no_lora and not cfg.use_lora and cfg.learning_rate == 5e-5


# --- errors -----------------------------------------------------------------------------------

def test_several_bad_fields_reported_together(tmp_path, capsys, captured):
    yaml_path = write_yaml(tmp_path / "run.yaml", """
        data: rows.jsonl
        max_length: 0
        lora_dropout: 1.5
        """)
    rc = main(["sft", "train", "--config", str(yaml_path), "--learning-rate=-1e-4", "--batch-size", "0",
               "--epochs", "0"])
    err = assert_one_error(rc, capsys.readouterr().err)
    assert not captured
    assert f"invalid configuration ({yaml_path} + command line)" in err
    for flag in ("--max-length (got 0)", "--lora-dropout (got 1.5)", "--learning-rate (got -1e-4)",
                 "--batch-size (got 0)", "--epochs (got 0)"):
        assert flag in err, flag
    assert "fix: run `halo-forge sft train --help`" in err


def test_conflicting_lora_flags_reported_together(capsys):
    rc = main(["sft", "train", "--data", "rows.jsonl", "--no-lora", "--use-dora", "--use-rslora",
               "--init-lora-weights", "pissa"])
    err = assert_one_error(rc, capsys.readouterr().err)
    assert "--use-dora: needs LoRA adapters but --no-lora" in err
    assert "--use-rslora: needs LoRA adapters but --no-lora" in err
    assert "--init-lora-weights (got 'pissa'): needs LoRA adapters" in err


def test_yaml_syntax_error_names_file_and_line(tmp_path, capsys):
    yaml_path = write_yaml(tmp_path / "run.yaml", """
        data: rows.jsonl
        epochs: 2
        learning_rate: 1e-3: oops
        seed: 1
        """)
    with pytest.raises(ConfigError, match=r"run\.yaml:3:"):
        read_yaml(yaml_path)
    rc = main(["sft", "train", "--config", str(yaml_path)])
    err = assert_one_error(rc, capsys.readouterr().err)
    assert f"{yaml_path}:3:" in err and "invalid YAML" in err
    assert "fix: fix the YAML syntax on that line" in err


def test_unknown_yaml_key_is_reported(tmp_path, capsys, captured):
    yaml_path = write_yaml(tmp_path / "run.yaml", """
        data: rows.jsonl
        learning_rat: 1e-3
        flux_capacitor: 3
        """)
    rc = main(["sft", "train", "--config", str(yaml_path)])
    err = assert_one_error(rc, capsys.readouterr().err)
    assert not captured
    assert str(yaml_path) in err
    assert "learning_rat (got 1e-3): unknown field (did you mean learning_rate?)" in err
    assert "flux_capacitor (got 3): unknown field" in err


def test_yaml_that_is_not_a_mapping(tmp_path, capsys):
    yaml_path = write_yaml(tmp_path / "run.yaml", "- data: rows.jsonl\n- epochs: 2\n")
    rc = main(["sft", "train", "--config", str(yaml_path)])
    err = assert_one_error(rc, capsys.readouterr().err)
    assert f"{yaml_path}: expected a mapping of field: value, got list" in err


def test_missing_config_file(tmp_path, capsys):
    rc = main(["sft", "train", "--config", str(tmp_path / "nope.yaml")])
    err = assert_one_error(rc, capsys.readouterr().err)
    assert f"config file not found: {tmp_path / 'nope.yaml'}" in err and "--config" in err


def test_empty_yaml_means_defaults(tmp_path, captured):
    yaml_path = write_yaml(tmp_path / "run.yaml", "# nothing but a comment\n")
    cfg = cli_config(captured, ["--config", str(yaml_path), "--data", "rows.jsonl"])
    assert cfg.epochs == 3.0


def test_bad_choice_is_reported_with_the_other_problems(capsys):
    """A value outside a field's choices is one of the config's problems (not click's usage error)."""
    rc = main(["sft", "train", "--init-lora-weights", "random", "--lora-rank", "0"])
    err = assert_one_error(rc, capsys.readouterr().err)
    assert "--init-lora-weights (got 'random'): Input should be 'pissa', 'loftq', 'olora', 'gaussian', 'true' or " \
           "'false'" in err
    assert "--lora-rank (got 0): Input should be greater than 0" in err
    assert "--dataset: give a dataset: --dataset NAME or --data FILE" in err


def test_three_independent_mistakes_are_reported_in_one_error(capsys):
    """A value outside the choices, an impossible combination, a missing dataset and an optimiser the
    backend does not have: one `Error:`, every problem with its flag, value and fix, nothing run."""
    rc = main(["dpo", "train", "--loss-type", "ipo", "--label-smoothing", "0.2", "--optim", "adamw_turbo",
               "--beta", "fast"])
    err = assert_one_error(rc, capsys.readouterr().err)
    lines = [line.strip() for line in err.splitlines()]
    assert "--dataset: give a dataset: --dataset NAME or --data FILE" in lines
    assert any(line.startswith("--optim (got 'adamw_turbo'): not an optimiser transformers knows") for line in lines)
    assert any(line.startswith("--beta (got 'fast'): Input should be a valid number") for line in lines)
    assert ("--label-smoothing (got 0.2): cDPO applies to --loss-type sigmoid or rpo, not ipo: drop --label-smoothing "
            "or change the loss type") in lines
    # listed in the order the flags appear in --help
    flags = [line.split(" ")[0].rstrip(":") for line in lines if line.startswith("--")]
    assert flags == ["--dataset", "--optim", "--beta", "--label-smoothing"]
