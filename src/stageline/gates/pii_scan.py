"""Kind ``pii-scan``: prove no production user data (or production secret) reached here.

Scans every text, JSON and inet value in the environment's database against the keyed
fingerprints recorded while snapshots were taken (``stageline snapshot take``), and the
environment's configuration against production's secrets and ``DATABASE_URL``. Fails
naming the table, column and count (or the variable), never the value::

    [environments.staging.gates.no-production-data]
    kind = "pii-scan"
    timeout = 600
"""

from __future__ import annotations

import time

from stageline.data.fingerprints import load_all
from stageline.data.key import load_key
from stageline.data.scan import ScanReport, config_leaks, production_values, scan_database
from stageline.gates.base import GateContext, GateOptions, GateResult


class PiiScanOptions(GateOptions):
    #: with no snapshot fingerprints to compare against, report ``error`` (cannot judge)
    require_snapshot: bool = True


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
        if url and len(fingerprints):
            ctx.log(f"scanning {env.name}'s database against {len(fingerprints)} fingerprints")
            report = scan_database(url, key, fingerprints, deadline=ctx.deadline)
        evidence = {
            "fingerprints": len(fingerprints),
            "snapshots_other_key": skipped,
            "values_scanned": report.values,
            "columns_scanned": report.columns,
            "findings": [vars(f) for f in report.findings],
            "config_leaks": leaks,
        }
        duration = time.monotonic() - started
        problems = [
            f"production values in {f.table}.{f.column} ({f.count})" for f in report.findings
        ] + leaks
        if problems:
            more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
            return GateResult("failed", "; ".join(problems[:3]) + more, duration, evidence)
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
            f"no production value among {report.values} values in {report.columns} columns;"
            " no production secret in the configuration",
            duration,
            evidence,
        )


def _config_leaks(ctx: GateContext) -> list[str]:
    """Which of the environment's variables (with its secrets) hold a production value."""
    production = ctx.pipeline.production
    if production is None:
        return []
    values = production_values(
        production, ctx.targets.postgres(production.name), ctx.store.secrets(production.name)
    )
    return config_leaks({**ctx.variables, **ctx.store.secrets(ctx.environment.name)}, values)
