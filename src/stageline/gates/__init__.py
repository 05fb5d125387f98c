"""Verification gates: named checks whose results are bound to a digest and environment.

The interface lives in ``base`` (a gate is given a ``GateContext``: the release, the
pipeline as loaded for the run, a read-only ``StoreView`` and a ``TargetView``); one
module per kind (``http``, ``pytest_gate``, ``command``, ``soak``, ``approval``,
``side_effects``, ``migrations``, ``parity``, ``pii_scan``); ``registry`` finds kinds by
name through the ``stageline.gates`` entry point group (built-ins and plug-ins alike);
``runner`` runs them in parallel with timeouts and exports JUnit XML. Nothing here
imports the use cases, the store or the workspace (``tests/test_imports.py``).
"""

from stageline.gates.base import (
    Gate,
    GateContext,
    GateOptions,
    GateResult,
    GateStatus,
    ProcessOutcome,
    ProcessRegistry,
    StoreView,
    TargetView,
)
from stageline.gates.registry import gate_kinds, get_gate, parse_options
from stageline.gates.runner import junit_xml, results_json, run_gates

__all__ = [
    "Gate",
    "GateContext",
    "GateOptions",
    "GateResult",
    "GateStatus",
    "ProcessOutcome",
    "ProcessRegistry",
    "StoreView",
    "TargetView",
    "gate_kinds",
    "get_gate",
    "junit_xml",
    "parse_options",
    "results_json",
    "run_gates",
]
