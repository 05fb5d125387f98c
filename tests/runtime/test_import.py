"""Importing the runtime helper pulls in nothing but the standard library."""

from __future__ import annotations

import json
import subprocess
import sys

SCRIPT = """
import json, sys
before = set(sys.modules)
import stageline.runtime
print(json.dumps(sorted(set(sys.modules) - before)))
"""


def test_imports_only_the_standard_library() -> None:
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True
    ).stdout
    new = json.loads(out)
    assert "stageline.runtime" in new
    foreign = [
        name
        for name in new
        if name.split(".")[0] not in sys.stdlib_module_names
        and name != "stageline"
        and not name.startswith("stageline.runtime")
    ]
    assert foreign == []


def test_using_it_outside_production_stays_in_the_standard_library(tmp_path: object) -> None:
    script = SCRIPT.replace(
        "import stageline.runtime\n",
        "import stageline.runtime as r\n"
        "r.Settings(U=r.url(default='http://x/')).load()\n"
        "r.record('email', to='a')\n"
        "r.read_outbox()\n",
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=tmp_path
    ).stdout
    new = json.loads(out)
    assert [n for n in new if n.split(".")[0] not in sys.stdlib_module_names] == [
        n for n in new if n == "stageline" or n.startswith("stageline.runtime")
    ]
