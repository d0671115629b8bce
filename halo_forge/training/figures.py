"""Held-out figures: what a trainer measures before and after training, by name."""

from __future__ import annotations

from dataclasses import dataclass

from halo_forge.summary import Evaluation


@dataclass(frozen=True)
class Figure:
    """One held-out figure: its value and the number of rows it was measured on."""

    value: float
    n: int
    higher_is_better: bool = True


class Figures(dict):
    """Named held-out figures, in order: the first is the primary figure the verdict rests on."""

    @classmethod
    def of(cls, **figures: Figure | None) -> "Figures":
        """The figures that were measured (a measurement with no rows to measure on is None: left out)."""
        return cls({name: fig for name, fig in figures.items() if fig is not None})


def compare(before: Figures, after: Figures, *, tolerance: dict[str, float] | None = None) -> list[Evaluation]:
    """Evaluations of each figure measured before training, against the same figure after it.
    `tolerance` names figures whose small regressions (at most that much) only warn."""
    tolerance = tolerance or {}
    out = []
    for name, b in before.items():
        a = after.get(name)
        out.append(Evaluation.of(name, b.value, None if a is None else a.value, higher_is_better=b.higher_is_better,
                                 n=b.n, tolerance=tolerance.get(name, 0.0)))
    return out
