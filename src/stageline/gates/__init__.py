"""Verification gates: named checks whose results are bound to a digest and environment.

The interface lives in ``base``; one module per kind (``http``, ``pytest_gate``,
``command``, ``soak``, ``approval``); ``registry`` finds kinds by name (built-ins plus the
``stageline.gates`` entry point group); ``runner`` runs them in parallel with timeouts
and exports JUnit XML.
"""

from stageline.gates.base import (
    Gate,
    GateContext,
    GateOptions,
    GateResult,
    GateStatus,
    ProcessOutcome,
    ProcessRegistry,
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
    "gate_kinds",
    "get_gate",
    "junit_xml",
    "parse_options",
    "results_json",
    "run_gates",
]
