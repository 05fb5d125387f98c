"""Collect the facts of a running environment (the imperative half of parity).

The OS, Python and installed distributions are asked from the release's own Python,
through the environment's target (``Target.run_probe``), so the same probe works
wherever the target runs the service. The backing service is asked over its URL
(``SELECT version()``, ``SHOW server_version``, ``pg_extension``), Redis over its port
(``INFO server``); the persist folders by the probe, from the release's working folder.
Variable names come
from ``service_environment`` with placeholder secrets, so no value is ever read; the
``[defaults]`` overrides from the pipeline file; infrastructure hashes from the files.
"""

from __future__ import annotations

import hashlib
import tomllib
from pathlib import Path
from typing import Any

import psycopg

from stageline.config.loader import find_pipeline_file
from stageline.config.model import Environment
from stageline.config.resolve import PostgresFacts, RedisFacts, ReleaseFacts, service_environment
from stageline.errors import BackingServiceError, InfrastructureError
from stageline.parity.facts import (
    PROBE_SCRIPT,
    BackingFacts,
    Facts,
    NotDeployed,
    parse_persist,
    parse_probe,
    server_facts,
    value_hash,
)
from stageline.services.redis import Connection, ReplyError, info_field
from stageline.targets.base import Release
from stageline.usecases.pipeline import Session

PROBE_TIMEOUT = 60.0
#: variables stageline sets for its own bookkeeping (not part of the service's config)
_OWN_PREFIX = "STAGELINE_"


def probe(session: Session, environment: str, *, timeout: float = PROBE_TIMEOUT) -> Facts:
    """The facts of ``environment`` as it runs now; ``NotDeployed`` if nothing runs."""
    pipe = session.pipeline()
    env = pipe.environment(environment)
    current = session.store.current_deployment(env.name)
    if current is None:
        raise NotDeployed(env.name)
    _, manifest = session.artifacts.load(current.digest)
    target = session.target(env, manifest.service.name)
    release = Release(
        env.name, current.digest, manifest, session.artifacts.path_for(current.digest)
    )
    prepared = target.prepare(release)
    argv = ["python", "-I", "-c", PROBE_SCRIPT, *manifest.service.persist]
    result = target.run_probe(prepared, argv, timeout=timeout)
    if not result.ok:
        raise InfrastructureError(
            f"the parity probe failed in {env.name} (exit {result.returncode}): "
            f"{result.output_tail.strip()[-300:]}",
            hint=f"the release's Python must run: see `stageline logs {env.name}`",
        )
    os_facts, python, packages = parse_probe(result.output_tail)
    postgres = target.backing(start=False)
    backing = {"postgres": postgres_server(env.name, postgres)} if postgres else {}
    redis = target.redis(start=False)
    if redis is not None:
        backing["redis"] = redis_server(env.name, redis)
    return Facts(
        environment=env.name,
        digest=current.digest,
        release=manifest.service.version,
        os=os_facts,
        python=python,
        packages=packages,
        backing=backing,
        variables=variable_names(env, postgres),
        overrides=defaults_overrides(_raw_pipeline(session.workspace.root), env.name),
        infrastructure=infrastructure_hashes(session.workspace.root, env),
        persist=parse_persist(result.output_tail),
    )


def postgres_server(environment: str, facts: PostgresFacts) -> BackingFacts:
    """Brand, version and installed extensions, as the server reports them."""
    try:
        with psycopg.connect(facts.url, connect_timeout=10, autocommit=True) as conn:
            version_text = str(_one(conn, "SELECT version()"))
            server_version = str(_one(conn, "SHOW server_version"))
            rows = conn.execute("SELECT extname, extversion FROM pg_extension").fetchall()
    except psycopg.Error as exc:
        raise BackingServiceError(
            f"cannot ask {environment}'s PostgreSQL (port {facts.port}) for its version: "
            f"{str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}",
            hint=f"is {environment} running? `stageline status`",
        ) from None
    return server_facts(version_text, server_version, {str(n): str(v) for n, v in rows})


def redis_server(environment: str, facts: RedisFacts) -> BackingFacts:
    """Redis's version, as the server reports it (``INFO server``)."""
    try:
        with Connection(facts.host, facts.port, timeout=10) as conn:
            if facts.password:
                conn.call("AUTH", facts.password)
            info = conn.call("INFO", "server")
    except (OSError, ReplyError) as exc:
        raise BackingServiceError(
            f"cannot ask {environment}'s Redis (port {facts.port}) for its version: {exc}",
            hint=f"is {environment} running? `stageline status`",
        ) from None
    text = info if isinstance(info, bytes | str) else b""
    return BackingFacts("Redis", info_field(text, "redis_version") or "unknown")


def _one(conn: psycopg.Connection[Any], query: str) -> object:
    row = conn.execute(query).fetchone()
    return row[0] if row else ""


def variable_names(env: Environment, postgres: PostgresFacts | None) -> tuple[str, ...]:
    """The names of the variables ``env``'s service receives; values are never read."""
    placeholders = {name: "" for name in env.secrets}
    names = service_environment(
        env,
        ReleaseFacts("", ""),
        port=env.target.port,
        postgres=postgres,
        secrets=placeholders,
    )
    return tuple(sorted(name for name in names if not name.startswith(_OWN_PREFIX)))


def _raw_pipeline(root: Path) -> dict[str, Any]:
    path = find_pipeline_file(root)
    data: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    if path.name == "pyproject.toml":
        data = data.get("tool", {}).get("stageline", {})
    return data


def _leaves(table: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Dotted keys of every non-table value (a list is one value)."""
    out: dict[str, Any] = {}
    for key, value in table.items():
        if isinstance(value, dict):
            out.update(_leaves(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def defaults_overrides(raw: dict[str, Any], environment: str) -> dict[str, str]:
    """Dotted keys set in ``[defaults]`` that the environment (or what it extends) sets
    again, each with a hash of the environment's value (equal values, equal hashes)."""
    defaults = _leaves(raw.get("defaults", {}) if isinstance(raw.get("defaults"), dict) else {})
    envs = raw.get("environments", {})
    own: dict[str, Any] = {}
    name: Any = environment
    seen: set[str] = set()
    while isinstance(name, str) and name in envs and name not in seen:  # extends chain
        seen.add(name)
        table = envs[name] if isinstance(envs[name], dict) else {}
        for key, value in _leaves(table).items():
            own.setdefault(key, value)  # the nearer environment wins
        name = table.get("extends")
    return {key: value_hash(own[key]) for key in sorted(own) if key in defaults}


def infrastructure_hashes(root: Path, env: Environment) -> dict[str, str]:
    """sha256 of each declared infrastructure path (a file, or a folder's files by
    relative path; hidden files and folders are skipped), or ``missing``."""
    return {
        name: path_hash(root / relative) for name, relative in env.parity.infrastructure.items()
    }


def path_hash(path: Path) -> str:
    if path.is_file():
        return hashlib.sha256(path.read_bytes()).hexdigest()
    if not path.is_dir():
        return "missing"
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        relative = file.relative_to(path)
        if any(part.startswith(".") for part in relative.parts):
            continue
        digest.update(f"{relative.as_posix()}\0".encode())
        digest.update(hashlib.sha256(file.read_bytes()).hexdigest().encode() + b"\n")
    return digest.hexdigest()
