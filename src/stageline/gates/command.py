"""Kind ``command``: any program, judged by its exit code.

``run`` is split like a shell would (no shell runs it); ``{url}``, ``{python}`` and
``{bundle}`` in it are replaced by the service's URL, the release's interpreter and the
bundle folder. It runs in the bundle with the service's variables plus ``STAGELINE_URL``::

    [environments.staging.gates.schema]
    kind = "command"
    run = "{python} gates/check_schema.py --url {url}"
"""

from __future__ import annotations

import shlex
import time
from typing import Literal

from pydantic import field_validator

from stageline.gates.base import GateContext, GateOptions, GateResult, tail, timed_out


class CommandOptions(GateOptions):
    run: str
    cwd: Literal["bundle"] = "bundle"

    @field_validator("run")
    @classmethod
    def _splits(cls, value: str) -> str:
        try:
            words = shlex.split(value)
        except ValueError as exc:
            raise ValueError(f"cannot split the command: {exc}") from None
        if not words:
            raise ValueError("the command is empty")
        return value


def command_argv(run: str, ctx: GateContext) -> list[str]:
    values = {"{url}": ctx.url, "{python}": ctx.python, "{bundle}": str(ctx.bundle)}
    argv = []
    for word in shlex.split(run):
        for placeholder, value in values.items():
            word = word.replace(placeholder, value)
        argv.append(word)
    return argv


class CommandGate:
    Options = CommandOptions

    def run(self, ctx: GateContext, options: CommandOptions) -> GateResult:
        opts = CommandOptions.model_validate(options)
        started = time.monotonic()
        argv = command_argv(opts.run, ctx)
        try:
            outcome = ctx.run_process(argv, cwd=ctx.bundle, env=ctx.service_env())
        except OSError as exc:
            summary = f"cannot run {argv[0]}: {exc.strerror or exc}"
            return GateResult("error", summary, time.monotonic() - started, {"argv": argv})
        evidence = {"argv": argv, "exit_code": outcome.returncode, "output": tail(outcome.output)}
        duration = time.monotonic() - started
        if outcome.returncode is None:
            return timed_out(duration, evidence)
        if outcome.returncode == 0:
            return GateResult("passed", f"{opts.run} exited 0", duration, evidence)
        last = next((line for line in reversed(outcome.output.splitlines()) if line.strip()), "")
        summary = f"{opts.run} exited {outcome.returncode}" + (f": {last.strip()}" if last else "")
        return GateResult("failed", summary[:300], duration, evidence)
