"""MLflow tracking for halo-forge runs: streamed metrics, the summary, the dataset, nested recipe runs.

    from halo_forge.tracking import Tracker, sync_pending

Tracking never stops training: failures are returned by `Tracker.finish`, and the run is saved under
`<workspace>/.halo-forge/tracking-pending/` for `sync_pending` (`halo-forge runs sync`). mlflow itself is
imported only when a tracker first talks to the store: in a helper process when a run prewarmed one
(`sidecar.prewarm`, done by `run_training`), otherwise in this process.
"""

from halo_forge.tracking._store import tracking_enabled
from halo_forge.tracking.pending import SyncReport, list_pending, mark_failed, pending_dir, sync_pending
from halo_forge.tracking.tracker import Tracker

__all__ = ["SyncReport", "Tracker", "list_pending", "mark_failed", "pending_dir", "sync_pending", "tracking_enabled"]
