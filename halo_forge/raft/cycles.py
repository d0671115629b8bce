"""RAFT's own pieces: which samples a cycle keeps, the yield diagnostics, and the per-cycle state that
makes a run resumable.

The state folder beside the output (`.<name>.state/<key>/`, the key a digest of the config without
`cycles`, so a resumed run may ask for more) holds the held-out figure measured before training and
every finished cycle (`cycle-<k>/record.json`, its model and its rollouts): `--resume` continues
after the last finished cycle, and a re-run cycle reuses the rollouts it had already sampled.
"""

from __future__ import annotations

import json
import math
import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from halo_forge.summary import write_json_atomic


def ranked(samples: list[list[str]], scores: list[list[dict]], *, keep_percent: float,
           threshold: float) -> list[tuple[float, int, str]]:
    """The kept samples as (reward, row index, text): reward ≥ threshold, best first, unique per row, at most
    keep_percent of the generated samples."""
    generated = sum(len(s) for s in samples)
    cands = []
    for i, (outs, sc) in enumerate(zip(samples, scores)):
        seen = set()
        for text, s in zip(outs, sc):
            if s["reward"] >= threshold and text.strip() and text not in seen:
                seen.add(text)
                cands.append((s["reward"], i, text))
    cands.sort(key=lambda c: (-c[0], c[1]))
    limit = max(1, math.floor(keep_percent * generated)) if generated else 0
    return cands[:limit]


def select(rows: list[dict], samples: list[list[str]], scores: list[list[dict]], *, keep_percent: float,
           threshold: float) -> list[dict]:
    """The kept training rows (prompt + the kept completion), see `ranked`."""
    return [{"prompt": rows[i]["prompt"], "completion": [{"role": "assistant", "content": text}], "reward": r}
            for r, i, text in ranked(samples, scores, keep_percent=keep_percent, threshold=threshold)]


def yield_diagnostics(cycles: list[dict], *, min_samples: int) -> dict:
    generated = sum(c["generated"] for c in cycles)
    verified = sum(c["verified"] for c in cycles)
    kept = sum(c["kept"] for c in cycles)
    rewards = [r for c in cycles for r in c.get("rewards", [])]
    reasons = Counter()
    for c in cycles:
        reasons.update(c.get("rejections", {}))
    bins = [0] * 5
    for r in rewards:
        bins[min(4, int(r * 5))] += 1
    keep_rate = kept / generated if generated else 0.0
    if kept == 0 or (rewards and max(rewards) == min(rewards) == 0):
        status = "no_signal"
    elif keep_rate < 0.05 or any(c["kept"] < min_samples for c in cycles):
        status = "low_yield"
    else:
        status = "healthy"
    return {
        "generated": generated, "verified": verified, "kept": kept,
        "rates": {"verify_rate": round(verified / generated, 4) if generated else 0.0, "keep_rate": round(keep_rate, 4)},
        "reward_distribution": {"mean": round(sum(rewards) / len(rewards), 4) if rewards else None,
                                "min": min(rewards) if rewards else None, "max": max(rewards) if rewards else None,
                                "histogram_0_to_1_by_0.2": bins},
        "dominant_rejection_reason": reasons.most_common(1)[0][0] if reasons else None,
        "status": status,
    }


@dataclass
class CycleState:
    """A RAFT run's state folder: the finished cycles so far and the held-out figure before training."""

    dir: Path
    finished: list[dict] = field(default_factory=list)
    resumed: bool = False

    @classmethod
    def open(cls, config, data_digest: str) -> "CycleState":
        from halo_forge.lineage.digests import sha256_json
        from halo_forge.training.checkpoints import state_root

        fields = {k: v for k, v in config.result_fields().items() if k != "cycles"}
        folder = state_root(config.output) / sha256_json({"config": fields, "data": data_digest}).split(":")[-1][:16]
        if not config.resume:
            shutil.rmtree(folder, ignore_errors=True)  # a fresh run never reuses another run's cycles
        folder.mkdir(parents=True, exist_ok=True)
        finished = []
        for k in range(config.cycles):
            rec = folder / f"cycle-{k}" / "record.json"
            if not rec.is_file():
                break
            finished.append(json.loads(rec.read_text()))
        return cls(dir=folder, finished=finished, resumed=bool(config.resume and finished))

    def cycle_dir(self, k: int) -> Path:
        return self.dir / f"cycle-{k}"

    def before(self) -> dict | None:
        """The held-out figure measured before training, when an interrupted run recorded it."""
        path = self.dir / "before.json"
        return json.loads(path.read_text())["before"] if self.finished and path.is_file() else None

    def record_before(self, figure) -> None:
        write_json_atomic(self.dir / "before.json", {"before": None if figure is None else figure.__dict__})

    def recovery(self) -> dict:
        if not self.resumed:
            return {}
        k = len(self.finished)
        cached = (self.cycle_dir(k) / "rollouts.json").is_file()
        return {"resumed": True, "resumed_from": f"cycle {k - 1}", "finished_before_resume": k,
                "notes": [f"resumed after {k} finished cycle(s); cycle {k} re-ran "
                          f"({'rollouts from cache' if cached else 'sampled again'})"]}

    def finished_run(self) -> None:
        """The run published its output: its cycles are no longer needed."""
        from halo_forge.training.checkpoints import remove_state

        remove_state(self.dir)
