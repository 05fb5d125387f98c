"""The passwords of an environment's own PostgreSQL server, kept like secrets.

Each environment server has two login roles: ``stageline``, the administrative
superuser that stageline itself uses (create and drop databases, clone snapshots,
rehearsal copies, the pii scan), and the service's role, which owns the service's
database and nothing else (no superuser, cannot create databases or roles). Both
passwords are generated once, the first time the server is used, and sealed under the
master key (AES-GCM, see ``keyring.py``) into ``envs/<env>/secrets/postgres.sealed``,
mode 0600: never in the pipeline file, the state store's rows or any output. A
``rotate-key`` re-seals the file with the launch files. Every password read here is
remembered by ``stageline.redact``, so whatever the process prints or stores masks it.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

from stageline import redact
from stageline.errors import UsageError
from stageline.host.keyring import load_keyring, seal, unseal, write_private_file
from stageline.services.postgres import SUPERUSER, new_password


@dataclass(frozen=True)
class ServerCredentials:
    """Who may log in to an environment's server: the admin's and the service's role."""

    admin_password: str
    role: str
    password: str

    def __repr__(self) -> str:
        return f"ServerCredentials(role={self.role!r}, passwords=****)"


def credentials_path(home: Path, environment: str) -> Path:
    return home / "envs" / environment / "secrets" / "postgres.sealed"


def service_role(database: str) -> str:
    """The service's role for ``database``: its name, unless that is the admin's."""
    return database if database != SUPERUSER else f"{database}_service"


def _label(environment: str) -> str:
    return f"{environment}:postgres"


def load_credentials(home: Path, environment: str) -> ServerCredentials | None:
    """The environment server's passwords, or None before its first use (or for a server
    made by an older stageline, which trusted loopback and has none yet)."""
    path = credentials_path(home, environment)
    if not path.is_file():
        return None
    keyring = load_keyring(home)
    try:
        values = unseal(keyring, _label(environment), path.read_bytes())
        found = ServerCredentials(values["admin"], values["role"], values["password"])
    except (KeyError, ValueError) as exc:
        raise UsageError(
            f"{path} is not a sealed credentials file ({type(exc).__name__})",
            hint="restore it from a backup; without it nobody can log in to the server",
        ) from None
    redact.remember(
        {"postgres.admin_password": found.admin_password, "postgres.password": found.password},
        environment=environment,
    )
    return found


def ensure_credentials(home: Path, environment: str, role: str) -> ServerCredentials:
    """The environment server's passwords, generated and sealed on first use.

    Two processes racing here agree: the file is linked into place only if absent, and
    the loser reads the winner's.
    """
    found = load_credentials(home, environment)
    if found is not None:
        return found
    keyring = load_keyring(home, create=True)
    values = {"admin": new_password(), "role": role, "password": new_password()}
    _publish_once(credentials_path(home, environment), seal(keyring, _label(environment), values))
    loaded = load_credentials(home, environment)
    assert loaded is not None
    return loaded


def _publish_once(path: Path, sealed: bytes) -> None:
    """Write ``sealed`` to ``path`` (mode 0600) unless it exists: the first writer wins,
    so two processes generating at once agree on one file (a private scratch file, then
    a hard link that fails if ``path`` is there)."""
    scratch = path.with_name(f".{path.name}.{os.getpid()}.new")
    write_private_file(scratch, sealed)
    try:
        with contextlib.suppress(FileExistsError):
            os.link(scratch, path)
    finally:
        scratch.unlink(missing_ok=True)


def redis_password_path(home: Path, environment: str) -> Path:
    return home / "envs" / environment / "secrets" / "redis.sealed"


def load_redis_password(home: Path, environment: str) -> str | None:
    """The password of the environment's own Redis server, or None before its first use."""
    path = redis_password_path(home, environment)
    if not path.is_file():
        return None
    try:
        password = unseal(load_keyring(home), f"{environment}:redis", path.read_bytes())["password"]
    except (KeyError, ValueError) as exc:
        raise UsageError(
            f"{path} is not a sealed credentials file ({type(exc).__name__})",
            hint="restore it from a backup, or stop the server and remove its folder",
        ) from None
    redact.remember({"redis.password": password}, environment=environment)
    return password


def ensure_redis_password(home: Path, environment: str) -> str:
    """The environment's Redis password, generated and sealed (as above) on first use."""
    found = load_redis_password(home, environment)
    if found is not None:
        return found
    keyring = load_keyring(home, create=True)
    sealed = seal(keyring, f"{environment}:redis", {"password": new_password()})
    _publish_once(redis_password_path(home, environment), sealed)
    loaded = load_redis_password(home, environment)
    assert loaded is not None
    return loaded
