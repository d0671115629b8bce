"""Training outlives the orchestrator: a Prefect API that goes away mid-run is a platform error, not a lost run.

The `train` task trains, publishes, tracks, indexes and records the replay stage itself; all Prefect
adds afterwards is bookkeeping (the task's and the flow's final states). When the API is gone by
then, Prefect's client raises a connection error out of `train_flow`. `recover` turns that into the
run's own summary with the failure listed in `extra.platform_errors` (the output folder's summary,
the cache record and the index are updated to say so), or re-raises the run's own exception when
training itself failed. While the API is unreachable, Prefect's retry warnings and tracebacks are
kept off the console (`quiet_while_unreachable`): the summary names the failure once.
"""

from __future__ import annotations

import logging
from pathlib import Path

from halo_forge.errors import OrchestratorLostError
from halo_forge.orchestration import cache
from halo_forge.summary import SUMMARY_FILE, TrainingSummary, write_json_atomic

log = logging.getLogger("halo_forge.orchestration")

# cache key -> the exception the train task raised in this process (so an orchestration failure
# that follows a failed run re-raises the run's own error, not Prefect's)
FAILED: dict[str, BaseException] = {}
_MODULES = ("httpx", "httpcore", "prefect", "websockets", "anyio")


def orchestration_failure(exc: BaseException) -> bool:
    """Whether `exc` (or what caused it) is Prefect's client failing to reach its API."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if type(exc).__module__.split(".")[0] in _MODULES and isinstance(exc, Exception) and \
                ("Connect" in type(exc).__name__ or "HTTP" in type(exc).__name__ or "Timeout" in type(exc).__name__
                 or "Protocol" in type(exc).__name__ or "ReadError" in type(exc).__name__):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def recover(ws, cache_key: str, trained: set[str], exc: BaseException) -> TrainingSummary | None:
    """The finished run's summary (platform error added) when `exc` is a lost orchestrator after training.

    Raises the run's own error when training failed, OrchestratorLostError when the API went away before
    the run trained; None when `exc` is not an orchestration failure (the caller re-raises it)."""
    if not orchestration_failure(exc):
        return None
    own = FAILED.pop(cache_key, None)
    if own is not None:
        raise own
    try:
        payload = cache.read(ws, cache_key)
    except (OSError, ValueError):
        payload = None
    if payload is None or payload.get("run_id") not in trained:
        raise OrchestratorLostError(f"the Prefect API went away before this run could train ({type(exc).__name__}: "
                                    f"{' '.join(str(exc).split())[:200]})",
                                    hint="run the command again: halo-forge starts its local server on demand "
                                         "(or check the server PREFECT_API_URL names)") from None
    summary = TrainingSummary.model_validate(payload)
    note = (f"prefect: the orchestrator went away during the run ({type(exc).__name__}: "
            f"{' '.join(str(exc).split())[:200]}); training finished and was recorded without it")
    summary.extra["platform_errors"] = [*summary.extra.get("platform_errors", []), note]
    _rewrite(ws, cache_key, summary)
    log.warning("%s", note)
    return summary


def _rewrite(ws, cache_key: str, summary: TrainingSummary) -> None:
    payload = summary.model_dump(mode="json")
    out = Path(summary.outputs.model_path or "")
    for step in (lambda: write_json_atomic(out / SUMMARY_FILE, payload) if out.is_dir() else None,
                 lambda: cache.store(ws, cache_key, payload), lambda: _index(ws, summary)):
        try:
            step()
        except Exception as exc:  # noqa: BLE001 - each record may fail alone: say so in the summary
            summary.extra["platform_errors"].append(f"after the orchestrator failure: {type(exc).__name__}: {exc}")


def _index(ws, summary: TrainingSummary) -> None:
    from halo_forge.runs import RunIndex

    RunIndex(ws).add(summary)
