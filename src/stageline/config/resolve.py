"""What a service receives: its environment variables, resolved from the pipeline file.

Pure functions. Vars may interpolate facts of the environment and of its backing
services, so a service that reads ``POSTGRES_SERVER`` and ``POSTGRES_DB`` (or ``DB_HOST``
and ``DB_NAME``) needs no wrapper::

    [environments.staging.vars]
    POSTGRES_SERVER = "${postgres.host}"
    POSTGRES_PORT = "${postgres.port}"
    POSTGRES_DB = "${postgres.database}"
    PUBLIC_URL = "${env.url}"

Known names: ``env.name``, ``env.tier``, ``env.url``, ``env.port``; ``postgres.host``,
``postgres.port``, ``postgres.user``, ``postgres.password``, ``postgres.database``,
``postgres.url``; ``redis.host``, ``redis.port``, ``redis.password``, ``redis.url`` (with
``[services.redis]``). ``$${`` writes a literal ``${``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import quote, unquote, urlsplit

from stageline.config.model import Environment, secret_scope
from stageline.errors import UnknownName, UsageError

_REF = re.compile(r"\$(\$?)\{([^}]*)\}")


@dataclass(frozen=True)
class PostgresFacts:
    """How a service reaches its PostgreSQL database."""

    host: str
    port: int
    user: str
    password: str = field(repr=False)  # never in a repr, a log line or a traceback
    database: str

    @property
    def url(self) -> str:
        auth = quote(self.user, safe="")
        if self.password:
            auth += ":" + quote(self.password, safe="")
        return f"postgresql://{auth}@{self.host}:{self.port}/{self.database}"

    @classmethod
    def from_url(cls, url: str) -> PostgresFacts:
        """The facts a ``postgresql://user:password@host:port/database`` URL names."""
        parts = urlsplit(url)
        return cls(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 5432,
            user=unquote(parts.username or ""),
            password=unquote(parts.password or ""),
            database=parts.path.lstrip("/") or "postgres",
        )


@dataclass(frozen=True)
class RedisFacts:
    """How a service reaches its Redis server (``password`` empty: none asked)."""

    host: str
    port: int
    password: str = field(repr=False)  # never in a repr, a log line or a traceback
    scheme: str = "redis"
    database: int = 0

    @property
    def url(self) -> str:
        auth = f":{quote(self.password, safe='')}@" if self.password else ""
        return f"{self.scheme}://{auth}{self.host}:{self.port}/{self.database}"

    @classmethod
    def from_url(cls, url: str) -> RedisFacts:
        """The facts a ``redis://[user]:password@host:port/db`` URL names."""
        parts = urlsplit(url)
        path = parts.path.lstrip("/")
        return cls(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 6379,
            password=unquote(parts.password or ""),
            scheme=parts.scheme or "redis",
            database=int(path) if path.isdigit() else 0,
        )


@dataclass(frozen=True)
class ReleaseFacts:
    """What is being run: the artifact's version and digest."""

    version: str
    digest: str


def facts_of(
    env: Environment, postgres: PostgresFacts | None, redis: RedisFacts | None = None
) -> dict[str, str]:
    """The names vars may interpolate, with their values for this environment."""
    facts = {
        "env.name": env.name,
        "env.tier": env.tier.value,
        "env.url": env.url,
        "env.port": str(env.target.port),
    }
    if postgres is not None:
        facts.update(
            {
                "postgres.host": postgres.host,
                "postgres.port": str(postgres.port),
                "postgres.user": postgres.user,
                "postgres.password": postgres.password,
                "postgres.database": postgres.database,
                "postgres.url": postgres.url,
            }
        )
    if redis is not None:
        facts.update(
            {
                "redis.host": redis.host,
                "redis.port": str(redis.port),
                "redis.password": redis.password,
                "redis.url": redis.url,
            }
        )
    return facts


def known_names(env: Environment) -> list[str]:
    """The names ``env``'s vars may interpolate (what :func:`facts_of` will give)."""
    placeholder = PostgresFacts("", 0, "", "", "") if env.postgres is not None else None
    redis = RedisFacts("", 0, "") if env.redis is not None else None
    return sorted(facts_of(env, placeholder, redis))


def interpolate(text: str, facts: Mapping[str, str], *, where: str) -> str:
    """Replace ``${name}`` by its fact; an unknown name is an error listing the known ones."""

    def substitute(match: re.Match[str]) -> str:
        if match.group(1):
            return "${" + match.group(2) + "}"
        name = match.group(2).strip()
        if name not in facts:
            hint = None
            if name.startswith("postgres."):
                hint = "declare [environments.NAME.services.postgres] to use postgres.* values"
            elif name.startswith("redis."):
                hint = "declare [environments.NAME.services.redis] to use redis.* values"
            raise UnknownName(f"variable in {where}", name, sorted(facts), hint=hint)
        return facts[name]

    return _REF.sub(substitute, text)


def service_environment(
    env: Environment,
    release: ReleaseFacts,
    *,
    port: int,
    postgres: PostgresFacts | None,
    secrets: Mapping[str, str],
    redis: RedisFacts | None = None,
) -> dict[str, str]:
    """Every variable stageline sets for the service (the caller adds PATH and the like).

    An environment that declares Redis but is given no ``redis`` facts (a copy that must
    not reach the live server: rehearsal, isolated gates) gets ``redis.*`` values that
    point at no server (port 0), so the code loads and any connection fails."""
    missing = [name for name in env.secrets if name not in secrets]
    if missing:
        raise UsageError(
            f"environment {env.name!r} needs secret(s) {', '.join(missing)} that have no value",
            hint=f"set them: `stageline secrets set {secret_scope(env.name)} NAME`",
        )
    if redis is None and env.redis is not None:
        redis = RedisFacts("127.0.0.1", 0, "")
    facts = facts_of(env, postgres, redis)
    result = {
        "APP_ENV": env.name,
        "STAGELINE_ENVIRONMENT": env.name,
        "STAGELINE_TIER": env.tier.value,
        "STAGELINE_URL": env.url,
        "STAGELINE_VERSION": release.version,
        "STAGELINE_DIGEST": release.digest,
        "PORT": str(port),
    }
    if postgres is not None:
        result["DATABASE_URL"] = postgres.url
    if redis is not None and env.redis is not None:
        result["REDIS_URL"] = redis.url
    if env.secrets:  # so stageline.runtime masks their values in the outbox
        result["STAGELINE_SECRET_NAMES"] = ",".join(env.secrets)
    for name, value in env.vars.items():
        result[name] = interpolate(value, facts, where=f"environments.{env.name}.vars.{name}")
    result.update({name: secrets[name] for name in env.secrets})
    return result


def masked(variables: Mapping[str, str], secret_values: Mapping[str, str]) -> dict[str, str]:
    """A copy safe to print: secret values, and passwords inside URLs, replaced by a mask."""
    hidden = [value for value in secret_values.values() if value]
    out: dict[str, str] = {}
    for name, value in variables.items():
        shown = re.sub(r"(://[^:/@]+:)[^@]+@", r"\1****@", value)
        for secret in hidden:
            shown = shown.replace(secret, "****")
        out[name] = shown
    return out
