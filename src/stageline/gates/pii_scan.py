"""Kind ``pii-scan``: prove no production user data (or production secret) reached here.

Scans every text, JSON and inet value in the environment's database against the keyed
fingerprints recorded while snapshots were taken (``stageline snapshot take``), and the
environment's configuration against production's secrets and ``DATABASE_URL``. Fails
naming the table, column and count (or the variable), never the value::

    [environments.staging.gates.no-production-data]
    kind = "pii-scan"
    timeout = 600
    # require_snapshot = true   (the default: no fingerprints to compare against -> error)
    allow = [                   # production values this environment may hold, and why
      { class = "ip", value = "127.0.0.1", reason = "our smoke requests come from here" },
      { column = "requests.user_agent", reason = "client software names, not people" },
    ]

Allowed findings are reported (evidence ``allowed``, and in the summary), never hidden;
see :mod:`stageline.data.allow`.
"""

from __future__ import annotations

import time
from dataclasses import replace

from pydantic import Field

from stageline.data import allow as allowing
from stageline.data.allow import Allowed, AllowEntry
from stageline.data.fingerprints import FingerprintSet, load_all
from stageline.data.key import load_key
from stageline.data.masking import MaskingKey
from stageline.data.scan import (
    ScanReport,
    config_leaks,
    production_values,
    scan_database,
    value_fingerprints,
)
from stageline.gates.base import GateContext, GateOptions, GateResult


class PiiScanOptions(GateOptions):
    #: with no snapshot fingerprints to compare against, report ``error`` (cannot judge);
    #: true by default (safe: a gate that compared nothing must not pass)
    require_snapshot: bool = True
    #: production values (by class and value) or columns this environment may hold,
    #: each with a reason; reported as allowed findings
    allow: list[AllowEntry] = Field(default_factory=list)


class PiiScanGate:
    Options = PiiScanOptions

    def run(self, ctx: GateContext, options: PiiScanOptions) -> GateResult:
        assert isinstance(options, PiiScanOptions)
        started = time.monotonic()
        env = ctx.environment
        if env.tier.value == "production":
            return GateResult("error", "pii-scan checks environments other than production", 0.0)
        leaks = _config_leaks(ctx)
        key = load_key(ctx.home, ctx.pipeline.data)
        fingerprints, skipped = load_all(ctx.home, key)
        facts = ctx.targets.postgres(env.name)
        url = ctx.variables.get("DATABASE_URL")
        if facts is not None and facts.port:  # read as stageline's admin, not the service
            url = ctx.targets.admin_url(env.name, facts.database)
        report = ScanReport()
        allowed: list[Allowed] = []
        if url and len(fingerprints):
            ctx.log(f"scanning {env.name}'s database against {len(fingerprints)} fingerprints")
            report = scan_database(url, key, fingerprints, deadline=ctx.deadline)
            report, allowed = _allow(ctx, url, key, fingerprints, report, options.allow)
        evidence = {
            "fingerprints": len(fingerprints),
            "snapshots_other_key": skipped,
            "values_scanned": report.values,
            "columns_scanned": report.columns,
            "findings": [vars(f) for f in report.findings],
            "allowed": [{**vars(a), "by": list(a.by)} for a in allowed],
            "config_leaks": leaks,
        }
        note = allowing.summary(allowed)
        duration = time.monotonic() - started
        problems = [
            f"production values in {f.table}.{f.column} ({f.count})" for f in report.findings
        ] + leaks
        if problems:
            more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
            shown = "; ".join(problems[:3]) + more + (f" ({note})" if note else "")
            return GateResult("failed", shown, duration, evidence)
        if not report.finished:
            return GateResult(
                "error", "the scan did not finish before the timeout", duration, evidence
            )
        if not len(fingerprints) and options.require_snapshot:
            return GateResult(
                "error",
                "no snapshot fingerprints to compare against: take a snapshot first "
                "(`stageline snapshot take production`), or set require_snapshot = false",
                duration,
                evidence,
            )
        return GateResult(
            "passed",
            f"no production value among {report.values} values in {report.columns} columns"
            + (f" ({note})" if note else "")
            + "; no production secret in the configuration",
            duration,
            evidence,
        )


def _allow(
    ctx: GateContext,
    url: str,
    key: MaskingKey,
    fingerprints: FingerprintSet,
    report: ScanReport,
    entries: list[AllowEntry],
) -> tuple[ScanReport, list[Allowed]]:
    """``report`` less what ``entries`` allow, and the allowed findings. Columns with
    findings are scanned again without the allowed values' fingerprints (only those
    columns, only when an allowed value is among production's): what that scan still
    finds is a finding, the rest was the allowed values."""
    rest, allowed = allowing.by_column(report.findings, entries)
    values = [e for e in entries if e.value is not None]
    prints = {
        fp
        for fp in value_fingerprints(key, [form for e in values for form in e.forms()])
        if fp in fingerprints
    }
    if not (rest and prints):
        return replace(report, findings=rest), allowed
    labels = tuple(e.label for e in values if value_fingerprints(key, e.forms()) & prints)
    ctx.log(f"scanning {len(rest)} column(s) again without {len(labels)} allowed value(s)")
    again = scan_database(
        url,
        key,
        fingerprints.without(prints),
        deadline=ctx.deadline,
        only={(f.table, f.column) for f in rest},
    )
    real = {(f.table, f.column): f.count for f in again.findings}
    left, by_value = allowing.by_value(rest, real, labels)
    return replace(report, findings=left, finished=again.finished), allowed + by_value


def _config_leaks(ctx: GateContext) -> list[str]:
    """Which of the environment's variables (with its secrets) hold a production value."""
    production = ctx.pipeline.production
    if production is None:
        return []
    values = production_values(
        production, ctx.targets.postgres(production.name), ctx.store.secrets(production.name)
    )
    return config_leaks({**ctx.variables, **ctx.store.secrets(ctx.environment.name)}, values)
