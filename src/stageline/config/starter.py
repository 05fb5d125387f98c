"""The commented starter pipeline file that ``stageline init`` writes."""

from __future__ import annotations

import contextlib
import re
import tomllib
from pathlib import Path

STARTER = """\
# stageline pipeline file: how {name} is built once and promoted through its environments.
# Validate it with `stageline check`. Reference: docs/ARCHITECTURE.md in stageline.

[service]
name = "{name}"
# How to start one process of the service; {{port}} is replaced by the port to listen on.
start = "{start}"
# Path that answers 200 when the service is healthy (checked after every deploy).
health = "/healthz"
# Run once per deploy, before the new release takes traffic (e.g. migrations).
# release = "alembic upgrade head"
# Files and folders (relative to this file) that travel with the artifact.
bundle = [{bundle}]
# Build steps run once, at build time, with the release's dependencies installed.
# build = ["python manage.py collectstatic --noinput"]

# Every environment inherits these and overrides only what must differ.
[defaults]
# Which git tags an environment accepts (glob patterns).
accept = ["v*"]
vars = {{ LOG_LEVEL = "info" }}
# Secret *names* only; values are never written here.
# secrets = ["PAYMENT_API_KEY"]
# How a deploy replaces the running release: "blue-green" (the new release starts
# beside the old one behind the environment's proxy and takes over once healthy: no
# failed request) or "restart" (stop, then start). See docs/zero-downtime.md.
# strategy = "blue-green"
# processes = 1       # copies of the service behind the proxy
# drain_timeout = 30  # seconds requests in flight on the old release may take
# watch = 30          # seconds after a switch in which a crash switches back

# Each environment that needs a database gets its own PostgreSQL server.
# provider: "embedded" (the pgserver package, PostgreSQL 16), "system" (binaries on PATH)
# or "external" (with url = "postgresql://...").
# [defaults.services.postgres]
# version = 16
# provider = "embedded"

# Who you are, proven: approvals, promotion into production, --force and
# --override-freeze need your SSH signature (--sign-with ~/.ssh/id_ed25519, a key listed
# for you in allowed_signers, git's format) or your personal token (STAGELINE_TOKEN).
# [access]
# allowed_signers = "allowed_signers"
# mode = "single-person"    # you alone run this pipeline: STAGELINE_USER is enough

# Environments, in promotion order. The tier defaults to the name when it is one of
# development, test(ing), staging, production.
[environments.development]
target = {{ kind = "local", port = {port0} }}
promotion = "auto"          # new artifacts land here; "auto" promotes on without a person

[environments.test]
target = {{ kind = "local", port = {port1} }}
promotion = "auto"

[environments.staging]
target = {{ kind = "local", port = {port2} }}
promotion = "auto"

[environments.production]
target = {{ kind = "local", port = {port3} }}
promotion = "manual"        # only `stageline promote staging` moves a release here
"""


def starter_for(root: Path, base_port: int = 8101) -> str:
    """A starter file for the project at ``root``, guessing its name and start command."""
    name = _guess_name(root)
    module = name.replace("-", "_")
    start = f"uvicorn {module}.app:app --host 127.0.0.1 --port {{port}}"
    if (root / "manage.py").is_file():
        start = f"gunicorn {module}.wsgi --bind 127.0.0.1:{{port}}"
    bundle = ", ".join(
        f'"{item}"' for item in ("alembic.ini", "migrations/", "tests/") if (root / item).exists()
    )
    ports = {f"port{i}": base_port + i for i in range(4)}
    return STARTER.format(name=name, start=start, bundle=bundle, **ports)


def _guess_name(root: Path) -> str:
    pyproject = root / "pyproject.toml"
    raw = root.resolve().name
    if pyproject.is_file():
        with contextlib.suppress(tomllib.TOMLDecodeError, KeyError, TypeError):
            raw = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["name"]
    name = re.sub(r"[^a-z0-9-]+", "-", str(raw).lower()).strip("-")
    return name if name and name[0].isalpha() else f"service-{name or 'app'}"
