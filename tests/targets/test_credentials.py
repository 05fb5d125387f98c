"""Each environment's PostgreSQL requires a password; its service's role owns its database
and is no superuser; stageline's admin role is separate (real servers, both providers)."""

from __future__ import annotations

import re
import stat
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import errors

from stageline import redact
from stageline.config.loader import load_pipeline
from stageline.config.model import Environment
from stageline.services.postgres import find_binaries, free_port
from stageline.targets.backing import (
    ensure_postgres,
    environment_server,
    postgres_facts,
    postgres_folder,
    server_admin_url,
    stop_postgres,
)
from stageline.targets.credentials import credentials_path
from stageline.usecases.pipeline import Session
from stageline.usecases.status import environment_config

PIPELINE = """
[service]
name = "shop"
start = "true"

[environments.staging]
tier = "staging"
target = {{ kind = "local", port = {port} }}
services.postgres = {{ provider = "{provider}", version = {version} }}

[environments.staging.vars]
POSTGRES_PASSWORD = "${{postgres.password}}"
POSTGRES_USER = "${{postgres.user}}"
"""


@pytest.fixture
def project(postgres_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A service folder whose ``.stageline`` the PostgreSQL user can traverse (as root)."""
    for name in ("STAGELINE_MASTER_KEY", "STAGELINE_MASTER_KEY_FILE", "STAGELINE_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("STAGELINE_DATABASE_URL", raising=False)
    redact.forget_all()
    yield postgres_dir
    redact.forget_all()


def staging(root: Path, provider: str) -> Environment:
    version = find_binaries(provider, None).major  # type: ignore[arg-type]
    text = PIPELINE.format(port=free_port(), provider=provider, version=version)
    (root / "stageline.toml").write_text(text)
    return load_pipeline(root).environment("staging")


@pytest.fixture
def stopped() -> Iterator[list[tuple[Path, Environment]]]:
    """Environments whose servers a test started; stopped at the end."""
    started: list[tuple[Path, Environment]] = []
    yield started
    for home, env in started:
        stop_postgres(home, env)


def without_password(url: str) -> str:
    scheme, rest = url.split("://", 1)
    auth, where = rest.split("@", 1)
    return f"{scheme}://{auth.split(':', 1)[0]}@{where}"


def refused(url: str) -> bool:
    try:
        psycopg.connect(url, connect_timeout=10).close()
    except psycopg.OperationalError as exc:
        return "password" in str(exc)
    return False


@pytest.mark.parametrize("provider", ["embedded", "system"])
def test_an_environment_server_lets_no_one_in_without_a_password(
    provider: str, project: Path, stopped: list[tuple[Path, Environment]]
) -> None:
    home = project / ".stageline"
    env = staging(project, provider)
    stopped.append((home, env))
    facts = ensure_postgres(home, env, "shop")
    assert facts is not None and facts.password and facts.user == "shop"
    admin = server_admin_url(home, env)
    for url in (facts.url, admin):
        assert refused(without_password(url)), url
        assert refused(re.sub(r"(://[^:@]+):[^@]*@", r"\1:wrong@", url)), url
    with psycopg.connect(facts.url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT current_user, rolsuper, rolcreatedb, rolcreaterole,"
            " pg_get_userbyid(d.datdba) FROM pg_roles r, pg_database d"
            " WHERE r.rolname = current_user AND d.datname = current_database()"
        ).fetchone()
        assert row == ("shop", False, False, False, "shop")
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute("CREATE DATABASE not_yours")
        conn.execute("CREATE TABLE orders (id serial PRIMARY KEY)")  # it owns its database
    with psycopg.connect(admin, autocommit=True) as conn:
        assert conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()
        hba = conn.execute("SELECT DISTINCT auth_method FROM pg_hba_file_rules").fetchall()
    assert hba == [("scram-sha-256",)]
    sealed = credentials_path(home, "staging")
    assert stat.S_IMODE(sealed.stat().st_mode) == 0o600
    assert facts.password.encode() not in sealed.read_bytes()
    assert ensure_postgres(home, env, "shop") == facts  # generated once
    assert postgres_facts(home, env, "shop") == facts


def test_stageline_env_masks_the_database_password(
    project: Path, stopped: list[tuple[Path, Environment]]
) -> None:
    env = staging(project, "embedded")
    with Session.open(project) as session:
        stopped.append((session.workspace.home, env))
        facts = ensure_postgres(session.workspace.home, env, "shop")
        assert facts is not None
        shown = environment_config(session, "staging")
    assert shown["POSTGRES_USER"] == "shop"
    assert shown["POSTGRES_PASSWORD"] == "****"
    assert facts.password not in str(shown)


def test_a_server_that_trusted_loopback_is_locked_down_on_first_use(
    project: Path, stopped: list[tuple[Path, Environment]]
) -> None:
    """An environment made by an older stageline: trust, superuser-owned tables."""
    home = project / ".stageline"
    env = staging(project, "embedded")
    stopped.append((home, env))
    old = environment_server(home, "staging", find_binaries("embedded", None))
    old.init(durable=False)
    hba = postgres_folder(home, "staging") / "data" / "pg_hba.conf"
    hba.write_text("local all all trust\nhost all all 127.0.0.1/32 trust\n")
    old.start()
    old.create_database("shop")
    trusting = f"postgresql://stageline@127.0.0.1:{old.port}/shop"
    with psycopg.connect(trusting, autocommit=True) as conn:
        conn.execute("CREATE TABLE orders (id serial PRIMARY KEY, note text)")
        conn.execute("INSERT INTO orders (note) VALUES ('kept')")
    assert postgres_facts(home, env, "shop") is not None  # no credentials yet: still works

    facts = ensure_postgres(home, env, "shop")

    assert facts is not None and facts.user == "shop"
    assert refused(trusting)
    assert "trust" not in hba.read_text()
    with psycopg.connect(facts.url, autocommit=True) as conn:
        conn.execute("ALTER TABLE orders ADD COLUMN total int")  # the service owns it now
        conn.execute("INSERT INTO orders (note) VALUES ('new')")
        notes = [r[0] for r in conn.execute("SELECT note FROM orders ORDER BY id")]
    assert notes == ["kept", "new"]
