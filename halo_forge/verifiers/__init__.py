"""Verifiers: programmatic rewards for RL (GRPO, RAFT) and evaluation.

    from halo_forge.verifiers import get_verifier
    v = get_verifier("execution", match="numeric")
    v.verify(completion, row)            # -> VerifyResult(reward, passed, details)
    v.verify_batch(completions, rows)    # bounded parallel pool

Built-ins: execution, pytest, humaneval, math, json_schema, regex_format, llm_judge; plugins from the
entry-point group ``halo_forge.verifiers``. Code runs only in :mod:`halo_forge.verifiers.sandbox`.
Importing this package loads no verifier module (they load on first lookup).
"""

from halo_forge.verifiers.base import (ENTRY_POINT_GROUP, Verifier, VerifierError, VerifierPluginWarning,
                                       VerifyResult, available_verifiers, check_rows, describe_verifiers, fail,
                                       get_verifier, load_plugins, parse_verifier_args, plugin_errors,
                                       register_verifier, verifier_identity)

__all__ = ["ENTRY_POINT_GROUP", "Verifier", "VerifierError", "VerifierPluginWarning", "VerifyResult",
           "available_verifiers", "check_rows", "describe_verifiers", "fail", "get_verifier", "load_plugins",
           "parse_verifier_args", "plugin_errors", "register_verifier", "verifier_identity"]
