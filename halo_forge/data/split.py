"""How every trainer reads its rows: `load_split(config, source)`.

The rows come from --data (a local file), a built-in set or a hub dataset (a short name from the trainer's
registry, or a hub id); a `RowSource` says what differs between trainers — their short names, how raw rows
become canonical ones, their built-in sets, what must hold of every row. Everything else is the same for
all: the split into train and held-out rows (deterministic from the seed, or the built-in set's own), the
errors for an empty source or an empty training split, --max-samples and --max-eval-samples.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from halo_forge.data import SplitData
from halo_forge.data.registry import DatasetSpec
from halo_forge.errors import DataError


@dataclass(frozen=True)
class Raw:
    """Rows as read, before a trainer makes them canonical."""

    rows: list
    where: Callable[[int], str]  # row i → "file:line" or "repo[row i]", for errors
    label: str  # the source as the summary names it: the file, or the hub id
    base: Path | None = None  # a local file's folder (relative media paths are read from it)
    spec: DatasetSpec | None = None  # the short name's spec, for a hub dataset that has one


@dataclass(frozen=True)
class RowSource:
    """What one trainer's rows are made of."""

    datasets: dict[str, DatasetSpec]
    canonical: Callable[[Raw], tuple[str, list[dict], list[str]]]  # → (format, rows, notes)
    builtin: Callable[[str], tuple[list[dict], list[dict]]]  # built-in set name → (train, held-out)
    builtin_format: str
    check: Callable[[list[dict], Callable[[int], str]], None] | None = None  # sees every row before the split
    kind: type = SplitData
    unit: str = "rows"
    trainer: str | None = None  # whose short names these are (default: the config's modality)


def load_split(config, source: RowSource) -> SplitData:
    """The run's train and held-out rows, materialised once per run."""
    from halo_forge.data import loaders, registry, split_rows

    split = None
    if config.data is not None:
        path = Path(config.data)
        fmt, rows, notes = source.canonical(Raw(loaders.read_local(path), loaders.row_locator(path), str(path),
                                                base=path.parent))
        label, where = str(path), loaders.row_locator(path)
    else:
        spec = registry.get_spec(config.dataset, source.datasets, source.trainer or config.modality)
        if spec is not None and spec.source == "builtin":
            split, label, fmt, notes = source.builtin(spec.name), f"builtin:{spec.name}", source.builtin_format, []
            rows, where = split[0] + split[1], (lambda i: f"{label}[row {i}]")
        else:
            label = spec.source if spec else config.dataset
            raw = loaders.load_hub(label, spec.config if spec else None, spec.split if spec else "train")
            if not raw:
                raise DataError(f"{label}: the dataset is empty")
            where = lambda i: f"{label}[row {i}]"  # noqa: E731
            fmt, rows, notes = source.canonical(Raw(raw, where, label, spec=spec))
    if source.check is not None:
        source.check(rows, where)
    train, heldout = split if split is not None else split_rows(rows, config.eval_split, config.seed)
    if not train:
        raise DataError(f"{label}: no training rows left after the held-out split", hint="add rows or lower --eval-split")
    if config.max_samples is not None and len(train) > config.max_samples:
        train = train[: config.max_samples]
        notes = [*notes, f"training on the first {config.max_samples} {source.unit} (--max-samples)"]
    return source.kind(train=train, heldout=heldout[: config.max_eval_samples], source=label, format=fmt,
                       notes=notes)


def formatted(raw: Raw) -> list:
    """The raw rows through their short name's formatter, when it has one."""
    if raw.spec is None or raw.spec.formatter is None:
        return raw.rows
    return [raw.spec.formatter(r, raw.where(i)) for i, r in enumerate(raw.rows)]
