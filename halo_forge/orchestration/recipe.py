"""Recipes: a YAML list of stages (SFT → DPO/ORPO → GRPO, RM and RAFT optional), run in order.

    # halo-forge recipe run recipes/quickstart.yaml
    name: quickstart
    output_dir: outputs/quickstart      # stage N writes to <output_dir>/<stage name>
    stages:
      - name: sft
        trainer: sft
        config: {dataset: arithmetic, model: halo-forge/tiny, max_steps: 600}
      - name: dpo                       # its model is the previous stage's output unless set
        trainer: dpo
        config: {...}

Each stage is its own cached `train_flow` run: rerunning a recipe after changing stage 3 reuses
stages 1 and 2. The whole recipe is validated (every stage's trainer and config fields) before
anything runs, and errors name the file and line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from halo_forge.errors import ConfigError

# Trainers the recipe format knows; those not in halo_forge.registry yet are refused by name.
PLANNED = ("sft", "dpo", "orpo", "rm", "grpo", "raft", "vlm", "audio", "reasoning", "agentic")


@dataclass
class Stage:
    name: str
    trainer: str
    config: dict[str, Any]
    line: int


@dataclass
class Recipe:
    name: str
    path: Path
    output_dir: Path
    stages: list[Stage] = field(default_factory=list)


def _line(node) -> int:
    return node.start_mark.line + 1


def load_recipe(path: Path) -> Recipe:
    import yaml

    from halo_forge import registry
    from halo_forge.config import build_config

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"recipe not found: {path}", hint="pass the path of a recipe YAML file")
    text = path.read_text(encoding="utf-8")
    try:
        root = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        raise ConfigError(f"{path}:{mark.line + 1 if mark else '?'}: invalid YAML: {exc.problem}",
                          hint="fix the YAML syntax on that line") from None
    except yaml.YAMLError as exc:  # e.g. a control character the YAML reader refuses
        raise ConfigError(f"{path}: invalid YAML: {exc}", hint="fix the YAML text") from None
    if not isinstance(data, dict) or not isinstance(data.get("stages"), list) or not data["stages"]:
        raise ConfigError(f"{path}: a recipe needs a non-empty `stages:` list",
                          hint="see recipes/quickstart.yaml for the format")
    unknown_top = set(data) - {"name", "output_dir", "stages"}
    if unknown_top:
        raise ConfigError(f"{path}: unknown recipe keys {sorted(unknown_top)}",
                          hint="a recipe has name, output_dir and stages")
    stage_nodes = next(v for k, v in root.value if k.value == "stages").value
    recipe = Recipe(name=str(data.get("name") or path.stem), path=path,
                    output_dir=Path(data.get("output_dir") or f"outputs/{path.stem}"))
    seen: set[str] = set()
    for i, (raw, node) in enumerate(zip(data["stages"], stage_nodes)):
        where = f"{path}:{_line(node)}"
        if not isinstance(raw, dict) or "trainer" not in raw:
            raise ConfigError(f"{where}: stage {i + 1} needs `trainer:` (one of {', '.join(PLANNED)})")
        trainer = str(raw["trainer"])
        if trainer not in registry.modalities():
            known = ", ".join(registry.modalities())
            why = "is not available in this release" if trainer in PLANNED else "is not a trainer"
            raise ConfigError(f"{where}: unknown stage trainer {trainer!r}: it {why}", hint=f"available: {known}")
        name = str(raw.get("name") or trainer)
        if name in seen:
            raise ConfigError(f"{where}: duplicate stage name {name!r}", hint="give each stage a unique `name:`")
        seen.add(name)
        extra = set(raw) - {"name", "trainer", "config"}
        if extra:
            raise ConfigError(f"{where}: unknown stage keys {sorted(extra)}", hint="a stage has name, trainer, config")
        cfg = dict(raw.get("config") or {})
        stage = Stage(name=name, trainer=trainer, config=cfg, line=_line(node))
        try:  # validate every field now; the model of a later stage is the previous output
            build_config(registry.config_class(trainer), stage_config(recipe, stage, previous=None, check=True))
        except ConfigError as exc:
            raise ConfigError(f"{where}: stage {name!r}: {exc.message}", hint=exc.hint) from None
        recipe.stages.append(stage)
    return recipe


def stage_config(recipe: Recipe, stage: Stage, previous: str | None, check: bool = False) -> dict:
    values = dict(stage.config)
    values.setdefault("output", str(recipe.output_dir / stage.name))
    values.setdefault("overwrite", True)  # a recipe owns its stage folders
    if previous is not None and "model" not in stage.config:
        values["model"] = previous
    return values


def run_stages(recipe: Recipe, ws, results: list[dict], *, no_cache: bool = False, retries: int | None = None,
               parent_mlflow_run: str | None = None) -> list[dict]:
    """Run the stages in order through `run_training`, each stage's model feeding the next, appending one
    {stage, cache_hit, summary} to `results` as each finishes (so a caller still has them when a stage fails)."""
    from halo_forge import registry
    from halo_forge.config import build_config
    from halo_forge.orchestration.run import run_training

    previous: str | None = None
    for stage in recipe.stages:
        config = build_config(registry.config_class(stage.trainer), stage_config(recipe, stage, previous))
        summary, hit = run_training(config, no_cache=no_cache, retries=retries, parent_mlflow_run=parent_mlflow_run,
                                    ws=ws, command=["halo-forge", "recipe", "run", str(recipe.path)],
                                    stage=f"{recipe.name}/{stage.name}")
        results.append({"stage": stage.name, "cache_hit": hit, "summary": summary.model_dump(mode="json")})
        previous = summary.outputs.model_path
    return results


def every_stage_recorded(recipe: Recipe, ws) -> bool:
    """Whether each stage, fed the model its predecessor's record points to, is a recorded cache hit: then the
    recipe is answered from the records without Prefect's flow engine or an MLflow parent run."""
    from halo_forge import registry
    from halo_forge.config import build_config
    from halo_forge.orchestration import cache
    from halo_forge.orchestration.inputs import resolve_inputs

    previous: str | None = None
    for stage in recipe.stages:
        config = build_config(registry.config_class(stage.trainer), stage_config(recipe, stage, previous))
        hit = cache.lookup(ws, resolve_inputs(config, ws).cache_key)
        if hit is None:
            return False
        previous = (hit.get("outputs") or {}).get("model_path")  # what run_stages will feed the next stage
    return True
