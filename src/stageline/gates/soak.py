"""Kind ``soak``: the digest must have run here for a minimum time, and still be healthy.

``minimum`` is a duration such as ``"45s"``, ``"30m"``, ``"2h"``, ``"1d"`` or ``"1h30m"``.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from pydantic import field_validator

from stageline.gates.base import GateContext, GateOptions, GateResult, one_line
from stageline.values import duration as format_duration  # re-exported
from stageline.values import parse_duration  # re-exported

__all__ = ["SoakGate", "SoakOptions", "format_duration", "parse_duration"]


class SoakOptions(GateOptions):
    minimum: str
    health: bool = True

    @field_validator("minimum")
    @classmethod
    def _duration(cls, value: str) -> str:
        parse_duration(value)
        return value

    @property
    def seconds(self) -> int:
        return parse_duration(self.minimum)


class SoakGate:
    Options = SoakOptions

    def run(self, ctx: GateContext, options: SoakOptions) -> GateResult:
        opts = SoakOptions.model_validate(options)
        started = time.monotonic()
        if ctx.deployed_at is None:
            return GateResult("failed", "no record of when this digest started here", 0.0, {})
        deployed = ctx.deployed_at
        if deployed.tzinfo is None:
            deployed = deployed.replace(tzinfo=UTC)
        ran = (datetime.now(UTC) - deployed).total_seconds()
        evidence: dict[str, object] = {
            "deployed_at": deployed.isoformat(), "ran_seconds": round(ran, 1),
            "minimum_seconds": opts.seconds,
        }  # fmt: skip
        if ran < opts.seconds:
            summary = f"ran {format_duration(ran)} of {opts.minimum}"
            summary += f" ({format_duration(opts.seconds - ran)} to go)"
            return GateResult("failed", summary, time.monotonic() - started, evidence)
        if opts.health:
            problem = _health(ctx)
            evidence["health"] = problem or "200"
            if problem:
                summary = f"ran {format_duration(ran)}, but the health check {problem}"
                return GateResult("failed", summary, time.monotonic() - started, evidence)
        summary = f"ran {format_duration(ran)} (minimum {opts.minimum})"
        return GateResult("passed", summary, time.monotonic() - started, evidence)


def _health(ctx: GateContext) -> str | None:
    import httpx  # here, not at the top: `stageline check` validates options without it

    timeout = max(0.1, min(10.0, ctx.remaining()))
    try:
        response = httpx.get(ctx.url + ctx.health_path, timeout=timeout, trust_env=False)
    except httpx.HTTPError as exc:
        return f"failed: {one_line(str(exc)) or type(exc).__name__}"
    return None if response.status_code == 200 else f"answered {response.status_code}"
