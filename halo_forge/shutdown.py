"""Ending a halo-forge process quickly once its work is done."""

from __future__ import annotations

import sys


def exit_now(code: int) -> None:
    """Exit with `code` without tearing the interpreter down module by module.

    After a run, that teardown (torch, transformers, Prefect, mlflow objects collected one by one) costs
    1-2 s on a small machine and does nothing a user needs. What must happen at exit still happens,
    in the order Python does it: non-daemon threads are joined, atexit handlers run (logging, the run
    index's DuckDB connections, Prefect's workers, the tracking helper), then stdio is flushed."""
    import atexit
    import os
    import threading

    for thread in threading.enumerate():
        if thread is not threading.main_thread() and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)
