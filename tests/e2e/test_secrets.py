"""Secrets end to end: set per environment, shipped through the example, never at rest.

A staging gate prints its whole environment on purpose; afterwards neither secret value
is anywhere under ``.stageline/`` (state store, agent files, logs, evidence, outbox,
every environment's PostgreSQL files), in a dump of the PostgreSQL state store, or in any
command's output; staging's service never held production's secret. A person outside
production's promote rule is refused, and the refusal is in the audit log.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from stageline.services.postgres import PostgresServer
from stageline.usecases.demo import TAGS
from tests.e2e.helpers import QA, staging_first

pytestmark = pytest.mark.slow
OLD = TAGS[0]
STAGING_KEY = "stg-signing-93c1e7d2"
PRODUCTION_KEY = "sk_live_prod_5b8a0f4e"
PRODUCTION_SIGNING = "prd-signing-0d4c22aa"
LEA, OPS = "lea@shop.example", "ops@shop.example"


class Runner:
    """The CLI on one repository; keeps every output to search afterwards."""

    def __init__(self, repo: Path, database_url: str | None) -> None:
        self.repo = repo
        self.env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("STAGELINE_") or k == "STAGELINE_HOME"
        }
        if database_url:
            self.env["STAGELINE_DATABASE_URL"] = database_url
        self.outputs: list[str] = []

    def __call__(
        self, *args: str, user: str = OPS, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [sys.executable, "-m", "stageline", *args, "-C", str(self.repo)],
            input=stdin if stdin is not None else "",
            capture_output=True, text=True, timeout=600,
            env={**self.env, "STAGELINE_USER": user},
        )  # fmt: skip
        self.outputs.append(done.stdout + done.stderr)
        return done

    def ok(self, *args: str, **kw: str) -> str:
        done = self(*args, **kw)
        assert done.returncode == 0, (args, done.stdout, done.stderr)
        return done.stdout


def configure(repo: Path) -> None:
    staging_first(repo)  # the ship lands in staging directly (two deploys instead of four)
    pipeline = repo / "stageline.toml"
    text = pipeline.read_text()
    for old, new in (
        ("ttl_hours = 72\n", 'ttl_hours = 72\nsecrets = ["SIGNING_KEY"]\n'),
        ("[people.groups]\n", '[people.groups]\nleads = ["lea@shop.example"]\n'),
        ('secrets = ["PAYMENT_API_KEY"]\n', 'secrets = ["PAYMENT_API_KEY", "SIGNING_KEY"]\n'),
    ):
        assert old in text
        text = text.replace(old, new, 1)
    text += (
        "\n[environments.staging.gates.print-env]\n"
        'kind = "command"\nrun = "env"\n'
        "\n[environments.production.access]\n"
        'promote = ["group:leads"]\n'
    )
    pipeline.write_text(text)


def service_environs(environment: str) -> list[bytes]:
    """The environments of every process of ``environment``'s service (launcher, child)."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            environ = Path(entry.path, "environ").read_bytes()
        except OSError:
            continue
        variables = environ.split(b"\0")
        if f"APP_ENV={environment}".encode() in variables and b"STAGELINE_DIGEST=" in environ:
            found.append(environ)
    return found


def hits(folder: Path, values: list[bytes]) -> list[str]:
    found = []
    for path in folder.rglob("*"):
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            found += [f"{path}: {v.decode()}" for v in values if v in data]
    return found


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_secrets_never_at_rest_and_promotion_rules_are_enforced(
    shop: Path, backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    database_url = request.getfixturevalue("postgres_url") if backend == "postgresql" else None
    configure(shop)
    cli = Runner(shop, database_url)
    cli.ok("secrets", "set", "staging", "SIGNING_KEY", stdin=STAGING_KEY + "\n")
    cli.ok("secrets", "set", "production", "PAYMENT_API_KEY", stdin=PRODUCTION_KEY)
    cli.ok("secrets", "set", "production", "SIGNING_KEY", stdin=PRODUCTION_SIGNING)
    listed = cli.ok("secrets", "list", "production")
    assert "PAYMENT_API_KEY" in listed and OPS in listed

    cli.ok("ship", OLD)
    verified = cli("verify", "staging", "--json")  # print-env prints staging's secret
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "SIGNING_KEY=[secret:SIGNING_KEY]" in verified.stdout
    for person in QA[1:]:
        cli.ok("approve", "staging", user=person)

    refused = cli("promote", "staging", user=QA[0])
    assert refused.returncode == 1
    assert (
        "production.access.promote allows group:leads; ana@shop.example is not in it"
        in refused.stderr
    )
    events = json.loads(cli.ok("audit", "production", "--json"))
    refusals = [e for e in events if e["kind"] == "access.refused"]
    assert [(e["actor"], e["data"]["rule"]) for e in refusals] == [
        ("ana@shop.example", "production.access.promote")
    ]
    cli.ok("promote", "staging", user=LEA)

    # the staging service has its own secret and never production's
    staging = service_environs("staging")
    assert any(f"SIGNING_KEY={STAGING_KEY}".encode() in e for e in staging)
    assert staging and not any(
        value.encode() in e for e in staging for value in (PRODUCTION_KEY, PRODUCTION_SIGNING)
    )
    production = service_environs("production")
    assert any(f"PAYMENT_API_KEY={PRODUCTION_KEY}".encode() in e for e in production)
    assert any(f"SIGNING_KEY={PRODUCTION_SIGNING}".encode() in e for e in production)
    assert not any(STAGING_KEY.encode() in e for e in production)

    for report in (
        ("status",), ("status", "--json"), ("history",), ("audit",), ("audit", "verify"),
        ("logs", "staging"), ("logs", "production"), ("outbox", "staging"),
        ("env", "production"), ("env", "staging", "--json"),
    ):  # fmt: skip
        cli.ok(*report)

    secrets = (STAGING_KEY, PRODUCTION_KEY, PRODUCTION_SIGNING)
    values = [value.encode() for value in secrets]
    assert hits(shop / ".stageline", values) == []
    assert not [out for out in cli.outputs if any(value in out for value in secrets)]
    if database_url:
        server: PostgresServer = request.getfixturevalue("postgres_server")
        dump = subprocess.run(
            [str(server.binaries.bin_dir / "pg_dump"), "--data-only", database_url],
            capture_output=True, timeout=120, check=True,
        ).stdout  # fmt: skip
        assert b"COPY public.secrets" in dump and b"COPY public.events" in dump
        assert all(value not in dump for value in values)
    else:
        assert (shop / ".stageline" / "state.db").stat().st_size > 0
