"""The pipeline file's shape, as pydantic models.

These models validate one environment *after* ``[defaults]`` (and any ``extends``) have
been merged into it; the loader (``loader.py``) does the merging and turns validation
errors into ``file:line: key: message`` issues.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    ValidationInfo,
    field_validator,
    model_validator,
)

from stageline.data.rules import DataRules
from stageline.errors import UnknownName
from stageline.limits import REASON_LIMIT
from stageline.plugins import TARGETS, names

NAME_RE = r"^[a-z][a-z0-9-]*$"
VAR_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

DEFAULT_ENVIRONMENTS = ("development", "test", "staging", "production")


class Tier(StrEnum):
    development = "development"
    testing = "testing"
    staging = "staging"
    production = "production"


#: names people write for tiers, mapped onto the four tiers
TIER_ALIASES = {"dev": "development", "test": "testing", "stage": "staging", "prod": "production"}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServiceTests(Strict):
    """``[service.tests]``: the service's own test suite and where its dependencies are
    declared (exactly one of ``extra``, ``group``, ``requirements``). The build collects
    them into the artifact's test layer (``artifacts/testlayer.py``), with ``paths``."""

    #: an extra of pyproject.toml's ``[project.optional-dependencies]`` (``"test"``)
    extra: str | None = None
    #: a dependency group of pyproject.toml's ``[dependency-groups]`` (``"dev"``)
    group: str | None = None
    #: a requirements file of the repository (``"requirements-dev.txt"``)
    requirements: str | None = None
    #: the folders of tests the artifact carries for the ``pytest`` gate
    paths: list[str] = Field(default_factory=lambda: ["tests"], min_length=1)

    @model_validator(mode="after")
    def _one_source(self) -> ServiceTests:
        given = [key for key in ("extra", "group", "requirements") if getattr(self, key)]
        if len(given) != 1:
            raise ValueError(
                "name exactly one of extra = 'test', group = 'dev' or "
                f"requirements = 'requirements-dev.txt' (got {', '.join(given) or 'none'})"
            )
        for item in [*self.paths, self.requirements or ""]:
            if item.startswith("/") or ".." in item.split("/"):
                raise ValueError(f"expected a path inside the repository, got {item!r}")
        return self

    def source(self) -> str:
        """How the dependencies are declared, as the docs spell it: ``extra = 'test'``."""
        key = next(k for k in ("extra", "group", "requirements") if getattr(self, k))
        return f"{key} = {getattr(self, key)!r}"


#: the process type that serves HTTP: it is ``start``, gets the port and sits behind the proxy
WEB = "web"


class Service(Strict):
    """What the service is and how it runs; travels inside every artifact's manifest.

    ``processes`` are the service's *process types* (``[service.processes]``, name ->
    command): ``web`` is ``start`` (written either way; both must agree), every other
    type (``worker``, ``scheduler``...) runs one copy beside it under the same
    supervision. Not to be confused with ``Environment.processes``, the number of copies
    of ``web`` behind an environment's proxy. ``persist`` names folders (relative to the
    service's working folder) kept per environment across releases
    (``docs/processes.md``).
    """

    name: Annotated[
        str,
        Field(
            pattern=NAME_RE,
            description="The service's name: lowercase letters, digits and dashes.",
            examples=["shop"],
        ),
    ]
    start: Annotated[
        str,
        Field(
            min_length=1,
            description="How to run one instance, from the release's folder with its "
            "virtualenv's bin first on PATH; {port} is the port it must listen on, "
            "{host} the address (127.0.0.1; a swarm task's `listen`).",
            examples=["uvicorn shop.app:app --host {host} --port {port}"],
        ),
    ]
    health: str = Field(
        "/healthz",
        description="The path GET on a new instance must answer 200 for it to count as "
        "healthy (deploys wait for it; better a page that touches the database).",
    )
    release: str | None = Field(
        None,
        description="A command run once per deploy (not on a rollback), in the release's "
        "folder with the environment's variables, before the new instance starts; a "
        "failure stops the deploy and the previous release keeps serving.",
        examples=["alembic upgrade head"],
    )
    bundle: list[str] = Field(
        default_factory=list,
        description="Files and folders of the repository (not of the package) the "
        "artifact carries: migrations, config templates, the gates' test suites.",
        examples=[["alembic.ini", "migrations/", "tests/"]],
    )
    build: list[str] = Field(
        default_factory=list,
        description="Commands run at build time in the exported tree, in order (the "
        "files they write ride in the artifact).",
        examples=[["python manage.py collectstatic --noinput"]],
    )
    lock: str | None = Field(
        None,
        description="The lock file that pins the dependencies; default: the first of "
        "uv.lock, poetry.lock, requirements.lock, requirements.txt found.",
        examples=["requirements/prod.txt"],
    )
    #: size caps of the artifact built from it (``artifacts/collect.py``), in megabytes
    max_file_mb: Annotated[StrictInt, Field(ge=1)] = 1024
    max_artifact_mb: Annotated[StrictInt, Field(ge=1)] = Field(
        4096, description="The artifact's total size cap, in megabytes."
    )
    #: the service's own tests and their dependencies (the artifact's test layer)
    tests: ServiceTests | None = None
    #: the folder of the repository the service lives in (its lock may be above it)
    root: str | None = None
    #: the build's Python: a version (``"3.12"``) found on this host, or an interpreter path
    python: Annotated[str, Field(min_length=1)] | None = None

    @field_validator("root")
    @classmethod
    def _root_relative(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = [part for part in value.strip("/").split("/") if part not in ("", ".")]
        if value.startswith("/") or ".." in parts:
            raise ValueError(f"root is a folder inside the repository, got {value!r}")
        return "/".join(parts) or None

    #: process types: name -> command (``web`` is ``start``); see the class docstring
    processes: dict[str, Annotated[str, Field(min_length=1)]] = Field(default_factory=dict)
    #: folders of the working folder kept per environment across releases
    persist: list[str] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _start_from_web(cls, data: object) -> object:
        """``[service.processes] web = ...`` may stand for ``start``."""
        types = data.get("processes") if isinstance(data, dict) else None
        if isinstance(data, dict) and isinstance(types, dict) and "start" not in data:
            web = types.get(WEB)
            if isinstance(web, str):
                return {**data, "start": web}
        return data

    @model_validator(mode="after")
    def _web_is_start(self) -> Service:
        web = self.processes.get(WEB)
        if web is not None and web != self.start:
            raise ValueError(
                "processes.web and start differ: web is the start command (write one of them)"
            )
        return self

    @field_validator("processes")
    @classmethod
    def _process_names(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if not re.match(NAME_RE, name) or len(name) > 32:
                raise ValueError(
                    f"process type {name!r}: lower-case letters, digits and '-', "
                    "starting with a letter (at most 32)"
                )
        return value

    @field_validator("persist")
    @classmethod
    def _persist_paths(cls, value: list[str]) -> list[str]:
        cleaned = [item.strip("/") for item in value]
        for item, raw in zip(cleaned, value, strict=True):
            parts = item.split("/")
            if raw.startswith("/") or not item or any(p in ("", ".", "..") for p in parts):
                raise ValueError(
                    f"persist entries are folders inside the service's working folder, got {raw!r}"
                )
        for item in cleaned:
            inside = [o for o in cleaned if o != item and o.startswith(item + "/")]
            if inside or cleaned.count(item) > 1:
                raise ValueError(f"persist entry {item!r} is given twice or holds another one")
        return cleaned

    @property
    def process_types(self) -> dict[str, str]:
        """Every process type with its command, ``web`` (``start``) first."""
        others = {name: cmd for name, cmd in sorted(self.processes.items()) if name != WEB}
        return {WEB: self.start, **others}

    @property
    def workers(self) -> dict[str, str]:
        """The process types other than ``web`` (they get no port and no proxy)."""
        return {name: cmd for name, cmd in self.process_types.items() if name != WEB}

    @field_validator("health")
    @classmethod
    def _health_is_path(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError(f"expected a path starting with '/', got {value!r}")
        return value

    @field_validator("bundle")
    @classmethod
    def _bundle_relative(cls, value: list[str]) -> list[str]:
        for item in value:
            if item.startswith("/") or ".." in item.split("/"):
                raise ValueError(f"bundle entries are paths inside the repository, got {item!r}")
        return value


class Target(Strict):
    """Where the environment runs: a kind declared in the ``stageline.targets`` entry-point
    group (``local``, built in, or a plug-in's), and the service's public port."""

    kind: str = Field(
        "local",
        description="Where the environment runs: `local` (this host, run by the host "
        "agent) or a kind a plug-in declares.",
    )
    port: Annotated[
        StrictInt,
        Field(
            ge=1,
            le=65535,
            description="The service's public port on the host (the proxy's, for blue-green).",
            examples=[8601],
        ),
    ]

    # kind = "swarm" (targets/swarm/, docs/swarm.md)
    replicas: Annotated[StrictInt, Field(ge=1, le=64)] = Field(
        2, description='kind "swarm": tasks per release (slot N listens on its own port).'
    )
    base_image: str | None = Field(
        None,
        description='kind "swarm": the image the release image is built on (its Python runs '
        "the release).",
        examples=["python:3.12-slim"],
    )
    registry: str | None = Field(
        None,
        description='kind "swarm": the registry the image is pushed to; services then run '
        "it by digest (needed on a swarm of several nodes).",
        examples=["127.0.0.1:5000"],
    )
    cpus: float | None = Field(
        None, gt=0, description='kind "swarm": CPU limit of each task (e.g. 0.5).'
    )
    memory_mb: Annotated[StrictInt, Field(ge=16)] | None = Field(
        None, description='kind "swarm": memory limit of each task, in MiB.'
    )
    docker_host: str | None = Field(
        None,
        description='kind "swarm": the engine of a swarm manager (default: DOCKER_HOST, '
        "else the local socket).",
        examples=["unix:///run/docker.sock"],
    )
    listen: str = Field(
        "127.0.0.1",
        description='kind "swarm": the address each task listens on, on its node (`{host}` '
        "in [service] start); the front reaches a task at its node's swarm address. One "
        "host: 127.0.0.1 (or the address the swarm advertises); several nodes: 0.0.0.0 on "
        "a private network. A public address is refused.",
        examples=["0.0.0.0"],
    )

    @model_validator(mode="after")
    def _swarm_keys_need_swarm(self) -> Target:
        keys = ("base_image", "registry", "cpus", "memory_mb", "docker_host", "listen")
        if self.kind != "swarm":
            fields = type(self).model_fields
            used = [  # set to something else than their default (a dump's None is no use)
                key for key in (*keys, "replicas")
                if key in self.model_fields_set and getattr(self, key) != fields[key].default
            ]  # fmt: skip
            if used:
                raise ValueError(f'{", ".join(used)}: only for kind = "swarm"')
        elif not self.base_image:
            raise ValueError('kind "swarm" needs base_image = "..." (e.g. "python:3.12-slim")')
        return self

    @field_validator("listen")
    @classmethod
    def _listen_is_not_public(cls, value: str) -> str:
        try:
            address = ipaddress.ip_address(value)
        except ValueError:
            raise ValueError(f"expected an IP address (e.g. 0.0.0.0), got {value!r}") from None
        if address.is_global:
            raise ValueError(
                f"{value} is a public address: tasks would answer the internet beside the "
                "front; give the nodes' private network (0.0.0.0 behind a firewall) instead"
            )
        return value

    @field_validator("kind")
    @classmethod
    def _kind_is_declared(cls, value: str) -> str:
        known = names(TARGETS)
        if value not in known:
            raise ValueError(f"unknown target kind {value!r}; valid: {', '.join(known) or 'none'}")
        return value


class Postgres(Strict):
    """A PostgreSQL server of the environment's own (or an external one by URL)."""

    version: Annotated[StrictInt, Field(ge=10, le=30)] = Field(
        16, description="The PostgreSQL major version (parity compares it)."
    )
    provider: Literal["embedded", "system", "external"] = Field(
        "embedded",
        description='"embedded": a private server from the pgserver wheel; "system": '
        'the PostgreSQL binaries on PATH (every contrib extension); "external": a '
        "server you run, by url.",
    )
    url: str | None = Field(
        None,
        description='The server of provider "external": postgresql://user:password@host:port/db.',
        examples=["postgresql://shop@db.internal:5432/shop"],
    )
    database: Annotated[str, Field(pattern=r"^[a-z_][a-z0-9_]*$")] | None = Field(
        None, description="The database's name; default: the service's, per environment."
    )
    extensions: list[str] = Field(
        default_factory=list,
        description="Extensions created in the database before the release runs.",
        examples=[["pg_trgm"]],
    )

    @model_validator(mode="after")
    def _url_iff_external(self) -> Postgres:
        if self.provider == "external" and not self.url:
            raise ValueError("provider 'external' needs a url = 'postgresql://...'")
        if self.url and self.provider != "external":
            raise ValueError("a url is only used with provider = 'external'")
        if self.url and urlsplit(self.url).scheme not in ("postgresql", "postgres"):
            raise ValueError(f"expected a postgresql:// url, got scheme of {self.url!r}")
        return self


class Redis(Strict):
    """A Redis server of the environment's own (Debian's ``redis-server``: ``system``), or
    an external one by URL (``redis://`` or ``rediss://``)."""

    #: ``system``: a redis-server of this environment's own, on its own port, with a
    #: password; ``external``: the server at ``url``
    provider: Literal["system", "external"] = "system"
    #: the external server (``redis://:PASSWORD@HOST:PORT/DB``; only with ``external``)
    url: str | None = None

    @model_validator(mode="after")
    def _url_iff_external(self) -> Redis:
        if self.provider == "external" and not self.url:
            raise ValueError("provider 'external' needs a url = 'redis://...'")
        if self.url and self.provider != "external":
            raise ValueError("a url is only used with provider = 'external'")
        if self.url and urlsplit(self.url).scheme not in ("redis", "rediss"):
            raise ValueError(f"expected a redis:// url, got scheme of {self.url!r}")
        return self


class Services(Strict):
    """The environment's backing services."""

    postgres: Postgres | None = Field(
        None, description="A PostgreSQL database for the service (DATABASE_URL, ${postgres.*})."
    )
    redis: Redis | None = Field(
        None, description="A Redis server for the service (REDIS_URL, ${redis.*})."
    )


def _check_glob(pattern: str) -> str:
    if not pattern or pattern != pattern.strip():
        raise ValueError(f"a tag glob must be non-empty without surrounding spaces: {pattern!r}")
    depth = 0
    for char in pattern:
        if char == "[":
            if depth:
                raise ValueError(f"nested '[' in tag glob {pattern!r}")
            depth = 1
        elif char == "]":
            depth = 0
    if depth:
        raise ValueError(f"unclosed '[' in tag glob {pattern!r}")
    return pattern


class Gate(BaseModel):
    """One verification gate: ``kind`` names the plug-in; the other keys are its options,
    validated by that plug-in's own ``Options`` model when the file is loaded."""

    model_config = ConfigDict(extra="allow", frozen=True)

    kind: Annotated[
        str,
        Field(
            min_length=1,
            description="The gate's kind: a built-in (http, pytest, migrations, command, "
            "approval, soak, parity, pii-scan, side-effects, load) or a plug-in's.",
            examples=["http"],
        ),
    ]
    #: seconds before a hanging gate is stopped and recorded as an error
    timeout: Annotated[StrictInt, Field(ge=1, le=86400)] = 300

    @property
    def options(self) -> dict[str, object]:
        return dict(self.model_extra or {})


class Freeze(Strict):
    """A window in which nothing is promoted into the environment (overridable, audited)."""

    start: datetime = Field(
        description="When the window opens, with a time zone.",
        examples=["2026-12-24T00:00:00Z"],
    )
    end: datetime = Field(
        description="When it closes (after start), with a time zone.",
        examples=["2026-12-27T00:00:00Z"],
    )
    reason: Annotated[str, Field(min_length=1, max_length=REASON_LIMIT)] = Field(
        description="Why nothing enters now (shown in every hold).",
        examples=["year-end freeze"],
    )

    @model_validator(mode="after")
    def _ordered(self) -> Freeze:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("freeze start and end need a time zone, e.g. 2026-12-24T00:00:00Z")
        if self.end <= self.start:
            raise ValueError("freeze end must come after its start")
        return self


class ParityAllow(Strict):
    """A difference from another environment that is known and accepted (``[parity]``)."""

    #: the report's layer the difference is in
    layer: Literal[
        "os", "python", "packages", "artifact", "postgres", "redis", "variables", "overrides",
        "infrastructure", "persist",
    ]  # fmt: skip
    #: the row's key inside the layer (e.g. ``version``, a package or variable name);
    #: omitted: every difference in the layer
    key: str | None = None
    reason: Annotated[str, Field(min_length=1, max_length=REASON_LIMIT)] = Field(
        description="Why the difference is accepted (shown in the parity report).",
        examples=["staging runs on a smaller host"],
    )


class Parity(Strict):
    """``[environments.X.parity]``: accepted differences, and infrastructure to hash."""

    allow: list[ParityAllow] = Field(default_factory=list)
    #: name -> a folder or file in the repository (e.g. ``{ terraform = "infra/prod" }``);
    #: its content hash is a fact, compared by name with the other environment's
    infrastructure: dict[str, str] = Field(default_factory=dict)


class Access(Strict):
    """``[environments.X.access]``: who may deploy, promote into, override a freeze, or
    break glass (``--force``: enter without the sign-off) here.

    Entries are emails, ``group:NAME`` or ``*``; an unwritten rule lets everyone (see
    ``stageline.decisions.access``). Approvals follow the approval gate's ``reviewers``.
    """

    deploy: list[str] | None = Field(
        None,
        description="Who may deploy a ref here, roll it back, bring it up after `down` "
        "or `run` a command in it; unwritten: follows promote.",
        examples=[["ops@shop.example"]],
    )
    promote: list[str] | None = Field(
        None,
        description="Who may promote a release into this environment.",
        examples=[["group:leads"]],
    )
    override_freeze: list[str] | None = Field(
        None, description="Who may enter during a freeze window (--override-freeze)."
    )
    force: list[str] | None = Field(
        None,
        description="Who may break glass (--force: enter without the sign-off; in a "
        "production tier, `run --live`: change live data); unwritten: follows "
        "override_freeze.",
    )


class Environment(Strict):
    """One environment after ``[defaults]`` have been merged in."""

    name: Annotated[str, Field(pattern=NAME_RE)]
    tier: Tier = Field(
        description="What the environment is for (dev, test, stage and prod are read "
        "as the four tiers); the production tier is what sign-off guards."
    )
    url: str = Field(
        description="Where people and gates reach the service (http:// or https://).",
        examples=["http://127.0.0.1:8601"],
    )
    target: Target = Field(description="Where the environment runs, and its port.")
    vars: dict[str, str] = Field(
        default_factory=dict,
        description="Variables the service gets, beside APP_ENV, DATABASE_URL, PORT and "
        "the STAGELINE_* ones; values may use ${env.*} and ${postgres.*}.",
        examples=[{"LOG_LEVEL": "info", "POSTGRES_SERVER": "${postgres.host}"}],
    )
    secrets: list[str] = Field(
        default_factory=list,
        description="Names of variables whose values are secrets, stored encrypted "
        "(`stageline secrets set`) and given only to this environment's service.",
        examples=[["PAYMENT_API_KEY"]],
    )
    services: Services = Field(
        default_factory=Services, description="The environment's backing services."
    )
    accept: list[str] = Field(
        default_factory=lambda: ["*"],
        description="Globs of the tags this environment accepts.",
        examples=[["v*"]],
    )
    promotion: Literal["auto", "manual"] = Field(
        "manual",
        description='"auto": `ship` promotes into it by itself; "manual": `promote` does.',
    )
    extends: str | None = Field(
        None,
        description="Another environment whose keys this one starts from.",
        examples=["staging"],
    )
    retain: Annotated[StrictInt, Field(ge=1, le=100)] = Field(
        5, description="How many release folders are kept on the host for rollbacks."
    )
    #: seconds a new release has to pass its health check before the deploy fails
    health_timeout: Annotated[StrictInt, Field(ge=1, le=3600)] = 60
    #: how a new release replaces the old: "blue-green" (started beside it behind the
    #: environment's proxy, switched when healthy) or "restart" (stop, then start)
    strategy: Literal["blue-green", "restart"] = "blue-green"
    #: copies of the service's ``web`` process behind the proxy (blue-green only); not
    #: ``[service.processes]``, the process types (each other type runs one copy)
    processes: Annotated[StrictInt, Field(ge=1, le=64)] = 1
    #: seconds requests in flight on the old release may take to finish after a switch
    drain_timeout: Annotated[StrictInt, Field(ge=0, le=3600)] = 30
    #: seconds after a switch during which a crash or failing health rolls back
    watch: Annotated[StrictInt, Field(ge=0, le=86400)] = 30
    #: during the watch: seconds one health check may take, and how many must fail in a
    #: row before the release counts as unhealthy (one slow answer is not a failure)
    watch_check_timeout: Annotated[StrictInt, Field(ge=1, le=600)] = 5
    watch_failures: Annotated[StrictInt, Field(ge=1, le=100)] = Field(
        3, description="During the watch: failed health checks in a row that count as unhealthy."
    )
    scale_to_zero_after: Annotated[StrictInt, Field(ge=1, le=30 * 86400)] | None = Field(
        None,
        description="Seconds without a request after which the service's processes stop "
        "(scale to zero); the front keeps the port, and the next request starts the same "
        'release again and waits for it. Unset: never. Needs strategy = "blue-green"; '
        'not on kind = "swarm".',
        examples=[600],
    )
    #: gates that must pass here, for the digest running here, before it may leave
    gates: dict[str, Gate] = Field(default_factory=dict)
    #: hours a gate result or an approval stays valid (the staging time gap, enforced)
    ttl_hours: Annotated[StrictInt, Field(ge=1, le=24 * 365)] = 72
    #: windows in which promotion INTO this environment is blocked
    freeze: list[Freeze] = Field(default_factory=list)
    #: parity with other environments: accepted differences, infrastructure paths
    parity: Parity = Field(default_factory=Parity)
    #: who may deploy, promote into, override a freeze here (stageline.decisions.access)
    access: Access = Field(default_factory=Access)
    #: gates (of kind ``http``) run against the new release right after every deploy,
    #: promote and rollback, while the watch window is open; a failure switches the
    #: previous release back. Unset: every ``http`` gate here; ``[]``: none
    after_deploy: list[str] | None = None
    record_traffic: StrictBool | None = Field(
        None,
        description="Whether the environment's proxy records its traffic profile (routes, "
        "rates, statuses, latencies, sizes; never a request's values): `stageline traffic`, "
        "the load gate. Unset: on in the production tier only.",
    )

    @model_validator(mode="after")
    def _scale_to_zero_needs_a_front(self) -> Environment:
        if self.scale_to_zero_after is not None and self.strategy != "blue-green":
            raise ValueError(
                'scale_to_zero_after needs strategy = "blue-green": only the environment\'s '
                "front can hold its port while no process runs (drop one of the two)"
            )
        if self.scale_to_zero_after is not None and self.target.kind == "swarm":
            raise ValueError(
                'scale_to_zero_after is not supported on kind = "swarm" (its tasks keep '
                "running): remove it here, or set it only on the environments that run locally"
            )
        return self

    @field_validator("tier", mode="before")
    @classmethod
    def _tier_alias(cls, value: object) -> object:
        return TIER_ALIASES.get(value, value) if isinstance(value, str) else value

    @field_validator("vars", mode="before")
    @classmethod
    def _vars_as_text(cls, value: object) -> object:
        if not isinstance(value, dict):
            return value
        out: dict[str, object] = {}
        for key, item in value.items():
            if not VAR_NAME_RE.match(key):
                raise ValueError(f"{key!r} is not a valid environment variable name")
            if isinstance(item, bool):
                out[key] = "true" if item else "false"
            elif isinstance(item, int | float):
                out[key] = str(item)
            else:
                out[key] = item
        return out

    @field_validator("secrets")
    @classmethod
    def _secret_names(cls, value: list[str]) -> list[str]:
        for name in value:
            if not VAR_NAME_RE.match(name):
                raise ValueError(f"{name!r} is not a valid environment variable name")
        return value

    @field_validator("accept")
    @classmethod
    def _globs(cls, value: list[str]) -> list[str]:
        return [_check_glob(pattern) for pattern in value]

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"expected an http:// or https:// URL, got {value!r}")
        return value.rstrip("/")

    @field_validator("after_deploy")
    @classmethod
    def _after_deploy_gates(cls, value: list[str] | None, info: ValidationInfo) -> list[str] | None:
        if "gates" not in info.data:  # the gates themselves are broken: reported there
            return value
        gates: dict[str, Gate] = info.data["gates"]
        for name in value or []:
            gate = gates.get(name)
            if gate is None:
                http = [n for n, g in gates.items() if g.kind == "http"]
                raise ValueError(
                    f"no gate named {name!r} here; http gates: {', '.join(http) or 'none'}"
                )
            if gate.kind != "http":
                raise ValueError(
                    f"gate {name!r} is of kind {gate.kind!r}; only http gates run after a "
                    "deploy (they talk to the service as a user does)"
                )
        if value is not None and len(set(value)) != len(value):
            raise ValueError("a gate is named twice")
        return value

    @property
    def postgres(self) -> Postgres | None:
        return self.services.postgres

    @property
    def redis(self) -> Redis | None:
        return self.services.redis

    @property
    def records_traffic(self) -> bool:
        """Whether the proxy records this environment's traffic (see ``record_traffic``)."""
        if self.record_traffic is None:
            return self.tier == Tier.production
        return self.record_traffic

    @property
    def after_deploy_checks(self) -> dict[str, Gate]:
        """The gates run after every switch, in order (see ``after_deploy``)."""
        if self.after_deploy is None:
            return {name: gate for name, gate in self.gates.items() if gate.kind == "http"}
        return {name: self.gates[name] for name in self.after_deploy}


#: review environments are named ``review/<slug>`` (``decisions/review.py``)
REVIEW_PREFIX = "review/"
#: the scope of the secrets review environments receive (``stageline secrets set review X``)
REVIEW_SCOPE = "review"


def is_review(environment: str) -> bool:
    """Whether ``environment`` names a review environment (``review/<slug>``)."""
    return environment.startswith(REVIEW_PREFIX)


def secret_scope(environment: str) -> str:
    """Whose secrets ``environment`` receives: its own, or ``review`` for every review
    environment (never another environment's)."""
    return REVIEW_SCOPE if is_review(environment) else environment


class Review(Strict):
    """``[review]``: the template of review environments, one per branch (``stageline
    review open``), each ``review/<slug>`` with its own port, host name, database and
    role in one shared PostgreSQL server (``docs/review.md``)."""

    tier: Tier = Field(
        Tier.testing,
        description="Which tier review environments behave as (test, dev, stage).",
    )
    vars: dict[str, str] = Field(
        default_factory=dict,
        description="Variables review environments get (over [defaults] vars); ${env.*} "
        "and ${postgres.*} work as in environments.",
        examples=[{"LOG_LEVEL": "debug"}],
    )
    secrets: list[str] = Field(
        default_factory=list,
        description="Names of the secrets review environments get, set with `stageline "
        "secrets set review NAME` (never another environment's; none with --untrusted).",
        examples=[["MAPS_TEST_KEY"]],
    )
    #: gates review environments have (their http gates run after each open)
    gates: dict[str, Gate] = Field(default_factory=dict)
    ttl_hours: Annotated[StrictInt, Field(ge=1, le=24 * 365)] = Field(
        72, description="Hours after opening when `review gc` closes a review environment."
    )
    idle_close_hours: Annotated[StrictInt, Field(ge=1, le=24 * 365)] | None = Field(
        None,
        description="Hours without a request after which `review gc` closes one; unset: never.",
    )
    max_open: Annotated[StrictInt, Field(ge=1, le=1000)] = Field(
        20, description="How many review environments may be open at once."
    )
    max_disk_mb: Annotated[StrictInt, Field(ge=1)] | None = Field(
        None,
        description="Disk all review environments may take together (folders and "
        "databases), in megabytes; unset: no cap.",
    )
    scale_to_zero_after: Annotated[StrictInt, Field(ge=1)] | None = Field(
        600,
        description="Seconds without a request after which a review environment's "
        "processes stop (its front keeps the port and wakes it); unset: never.",
    )
    ports: Annotated[list[StrictInt], Field(min_length=2, max_length=2)] = Field(
        default_factory=lambda: [9100, 9299],
        description="The range of public ports review environments get, first and last.",
    )
    router_port: Annotated[StrictInt, Field(ge=1, le=65535)] = Field(
        8099,
        description="The port of the one front proxy that routes <slug>.<host_suffix> "
        "to each review environment.",
    )
    host_suffix: Annotated[str, Field(pattern=r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$")] = Field(
        "review.localhost",
        description="Review environments' host names are <slug>.<host_suffix> "
        "(*.localhost resolves to 127.0.0.1 by itself).",
    )

    @field_validator("tier", mode="before")
    @classmethod
    def _tier_alias(cls, value: object) -> object:
        return TIER_ALIASES.get(value, value) if isinstance(value, str) else value

    @field_validator("tier")
    @classmethod
    def _not_production(cls, value: Tier) -> Tier:
        if value == Tier.production:
            raise ValueError("review environments cannot behave as production")
        return value

    @field_validator("ports")
    @classmethod
    def _port_range(cls, value: list[int]) -> list[int]:
        first, last = value
        if not 1024 <= first <= last <= 65535:
            raise ValueError(f"expected [first, last] with 1024 <= first <= last, got {value}")
        return value

    @model_validator(mode="after")
    def _router_outside_range(self) -> Review:
        first, last = self.ports
        if first <= self.router_port <= last:
            raise ValueError(f"router_port {self.router_port} is inside ports {self.ports}")
        return self


class People(Strict):
    """Named groups of people (by email), referenced as ``group:NAME`` in approval rules."""

    groups: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Group name -> emails; written group:NAME in access rules and reviewers.",
        examples=[{"qa": ["ana@shop.example", "ben@shop.example"]}],
    )


class Dashboard(Strict):
    """``[dashboard]``: what anonymous visitors of ``stageline serve`` may see."""

    #: "none" (the default): the sign-in page only (API: 401); "read": everything but
    #: signing off, and only on a loopback address (``stageline serve`` refuses otherwise)
    anonymous: Literal["read", "none"] = "none"


class AccessPolicy(Strict):
    """``[access]``: how a person proves who they are (see ``stageline.identity``).

    ``mode = "signed"`` (the default): approvals, rejections and privileged actions
    (promotion into production, break-glass, freeze overrides, minting tokens) need a
    personal token (``STAGELINE_TOKEN``) or an SSH signature by a key listed for the
    person in ``allowed_signers`` (a file as git's ``gpg.ssh.allowedSignersFile``,
    relative to the pipeline file). ``mode = "single-person"``: one person runs
    everything, and ``STAGELINE_USER`` (or git's ``user.email``) is taken at its word.
    ``admins`` may mint a token for someone else, with a signature.
    """

    mode: Literal["signed", "single-person"] = Field(
        "signed",
        description='"signed": privileged actions need a personal token or an SSH '
        'signature; "single-person": STAGELINE_USER is taken at its word.',
    )
    allowed_signers: str | None = Field(
        None,
        description="A file in git's allowed-signers format (email, then the SSH public "
        "key), relative to the pipeline file.",
        examples=["allowed_signers"],
    )
    admins: list[str] = Field(
        default_factory=list,
        description="People who may mint a personal token for someone else, with a signature.",
        examples=[["olga@shop.example"]],
    )


class Pipeline(Strict):
    """The whole pipeline file: the service and its ordered environments."""

    source: str
    service: Service
    environments: list[Environment]
    people: People = Field(default_factory=People)
    #: snapshots: masking rules per table and column (``[data]``, see stageline.data)
    data: DataRules = Field(default_factory=DataRules)
    #: ``stageline serve`` (see stageline.web)
    dashboard: Dashboard = Field(default_factory=Dashboard)
    #: how people prove who they are (``[access]``, see stageline.identity)
    access: AccessPolicy = Field(default_factory=AccessPolicy)
    #: the review environments' template (``[review]``); None: none may be opened
    review: Review | None = None

    @property
    def names(self) -> list[str]:
        return [env.name for env in self.environments]

    def environment(self, name: str) -> Environment:
        for env in self.environments:
            if env.name == name:
                return env
        raise UnknownName(
            "environment", name, self.names, hint=f"environments are declared in {self.source}"
        )

    def next_after(self, name: str) -> Environment | None:
        names = self.names
        index = names.index(self.environment(name).name)
        return self.environments[index + 1] if index + 1 < len(names) else None

    def earlier(self, name: str) -> list[Environment]:
        """Every environment before ``name`` in the pipeline, in order."""
        return self.environments[: self.names.index(self.environment(name).name)]

    def before(self, name: str) -> Environment | None:
        """The environment just before ``name`` in the pipeline (None for the first)."""
        earlier = self.earlier(name)
        return earlier[-1] if earlier else None

    def signoff_pair(self) -> tuple[Environment | None, Environment | None]:
        """The environment whose sign-off lets a release into production, and production:
        (None, None) without a production environment, (None, production) when
        production comes first."""
        production = self.production
        if production is None:
            return None, None
        return self.before(production.name), production

    @property
    def first(self) -> Environment:
        return self.environments[0]

    @property
    def production(self) -> Environment | None:
        """The first environment of the production tier, if the pipeline has one."""
        return next((e for e in self.environments if e.tier == Tier.production), None)
