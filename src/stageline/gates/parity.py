"""Kind ``parity``: the environment must match the one its release is promoted to.

Probes the gate's environment and the target of its promotion (``against``, default the
next environment), compares them (``parity.compare``) and fails on blocking drift, with
one reason per difference (``layer key: A, B``). Allowed differences pass and are kept in
the evidence with their reason. When the target runs nothing yet there is nothing to
compare: the gate passes and says so.
"""

from __future__ import annotations

import time

from stageline.errors import StagelineError
from stageline.gates.base import GateContext, GateOptions, GateResult
from stageline.parity.compare import Report, compare_probed
from stageline.parity.facts import NotDeployed


class ParityOptions(GateOptions):
    #: the environment to compare with; default: the next one (the promotion's target)
    against: str | None = None


def judge(report: Report, seconds: float) -> GateResult:
    """The gate's verdict on a comparison: failed on any blocking row (pure)."""
    reasons = [row.describe(report.a, report.b) for row in report.blocking]
    evidence = {
        "against": report.b,
        "reasons": reasons,
        "allowed": [
            {"layer": r.layer, "key": r.key, "reason": r.reason, "by": r.allowed_by}
            for r in report.allowed
        ],
        "warnings": [
            r.describe(report.a, report.b) for r in report.rows if r.severity == "warning"
        ],
        "rows": [vars(row) for row in report.rows],
    }
    if reasons:
        summary = f"{len(reasons)} blocking difference(s) from {report.b}: " + "; ".join(reasons)
        return GateResult("failed", summary, seconds, evidence)
    allowed = f", {len(report.allowed)} allowed" if report.allowed else ""
    return GateResult("passed", f"no blocking drift from {report.b}{allowed}", seconds, evidence)


class ParityGate:
    Options = ParityOptions

    def run(self, ctx: GateContext, options: ParityOptions) -> GateResult:
        opts = ParityOptions.model_validate(options)
        started = time.monotonic()
        try:
            following = ctx.pipeline.next_after(ctx.environment.name)
            against = opts.against or (following.name if following else None)
            if against is None:
                return GateResult("passed", f"{ctx.environment.name} is the last environment", 0.0)
            ctx.log(f"probing {ctx.environment.name} and {against}")
            report = compare_probed(ctx.pipeline, ctx.environment.name, against, ctx.targets.probe)
        except NotDeployed as exc:
            return GateResult(
                "passed", f"{exc.environment} runs nothing yet: nothing to compare",
                time.monotonic() - started, {"not_deployed": exc.environment},
            )  # fmt: skip
        except StagelineError as exc:
            return GateResult("error", str(exc), time.monotonic() - started)
        for row in report.rows:
            ctx.log(f"{row.severity:8} {row.describe(report.a, report.b)}")
        return judge(report, time.monotonic() - started)
