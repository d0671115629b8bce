"""The whole exception tree of halo-forge.

`HaloForgeError` and its subclasses are *user* mistakes: the message says what is wrong, where
(file:line, field) and how to fix it. The CLI prints them as one ``Error: …`` line and exits 2.
Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class HaloForgeError(Exception):
    """A user-caused error; the CLI prints it without a traceback and exits with code 2."""

    exit_code = 2

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(self.__str__())

    def __str__(self) -> str:
        return f"{self.message}\n  fix: {self.hint}" if self.hint else self.message


class ConfigError(HaloForgeError):
    """Raised when a config field (from the CLI or a YAML file) is invalid; lists every bad field."""


class DataError(HaloForgeError):
    """Raised when a dataset cannot be read or has the wrong shape (names file, line and column)."""


class ModelError(HaloForgeError):
    """Raised when a model name or path cannot be resolved or loaded."""


class BackendError(HaloForgeError):
    """Raised when the requested backend cannot honour the config (4-bit on CPU, 8-bit optim without bitsandbytes)."""


class OutputError(HaloForgeError):
    """Raised when the output folder already holds a different run and --overwrite was not given."""


class StorageError(HaloForgeError):
    """Raised when a run cannot write a path it needs: the disk is full, read-only, or refuses permission."""


class HubUnreachableError(ModelError):
    """Raised when --model names a hub id that is neither in the local cache nor reachable (offline, no network)."""


class TrackingStoreDamaged(HaloForgeError):
    """Raised when the MLflow store (mlflow.db) cannot be read (truncated, corrupt); names how to rebuild it."""


class ServerBusyError(HaloForgeError):
    """Raised when `halo-forge server stop` would stop the Prefect server while flow runs still train."""


class OrchestratorLostError(HaloForgeError):
    """Raised when the Prefect API went away before a run could train (the next run restarts the local server)."""


class SandboxUnavailable(HaloForgeError):
    """Raised when model-written code would run without a sandbox that keeps samples apart and unsafe was not given."""


class DashboardError(HaloForgeError):
    """Raised when a dashboard/HTTP API request cannot be served as asked (the message says why and what to do)."""


class LaunchNotFound(DashboardError):
    """Raised when a run id names neither an indexed run nor a run the dashboard launched."""


class Unauthorized(DashboardError):
    """Raised when a request lacks the dashboard's token where one is required (off loopback, every POST)."""


class VerifierError(HaloForgeError):
    """Raised when a verifier name, option or plugin the user gave cannot be used."""


class RunsError(HaloForgeError):
    """Raised when a run-index request cannot be applied (a filter, sort key or limit), or the index is busy."""


class RunNotFound(RunsError):
    """Raised when no run with the given id is in the index."""


class ReplayDiffers(HaloForgeError):
    """Raised when a replay ran but its figures differ from the record (exit code 1, not 2)."""

    exit_code = 1
