"""The deploy's lowered priority applies to its preparation work only (stageline.host.priority);
tests/e2e/test_release_trust.py shows the agent, servers and services keep the command's."""

from __future__ import annotations

import os
import subprocess

from stageline.host import priority


def test_only_preparation_work_is_lowered() -> None:
    priority.yield_to_serving(0)
    assert priority.lowered(["uv", "pip"]) == ["uv", "pip"]
    priority.yield_to_serving(10)
    try:
        argv = priority.lowered(["uv", "pip"])
        assert isinstance(argv, list) and argv[1:] == ["-n", "10", "uv", "pip"]
        shell = priority.lowered("echo 'it''s' && cat /proc/self/stat")
        assert isinstance(shell, str) and shell.startswith("exec ")
        done = subprocess.run(shell, shell=True, capture_output=True, text=True)
        assert done.returncode == 0 and done.stdout.startswith("its\n")
        fields = done.stdout.splitlines()[1]
        assert int(fields[fields.rindex(")") + 2 :].split()[16]) == min(
            19, os.getpriority(os.PRIO_PROCESS, 0) + 10
        )
    finally:
        priority.yield_to_serving(0)
    assert priority.increment_from_env({"STAGELINE_DEPLOY_NICE": "0"}) == 0
    assert priority.increment_from_env({}) == priority.DEFAULT_INCREMENT
