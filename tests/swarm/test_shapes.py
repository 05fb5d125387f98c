"""Example services shaped unlike the shop, shipped to a swarm environment (issue 25: the
example is not the user).

- ``examples/monorepo-fastapi``: the service in the ``backend/`` folder of a workspace
  (``[service] root``), ``backend-v*`` tags, its database from ``POSTGRES_*`` (the
  password among them: a Swarm secret, as ``DATABASE_URL``), Alembic as release command,
  a bearer token for its API;
- ``examples/flask-redis``: a Flask tree with no packaging, Flask-Migrate as release
  command, a compiled translation, and a **worker** process type taking jobs from the
  environment's Redis (on the host, reached through the host network): its own Swarm
  service, in ``status`` as a running worker; a release whose worker cannot start (its
  Redis is nowhere) fails the deploy with the worker's log, before the switch, and the
  first release keeps serving.

Each, as the team adopting stageline would ship it (``tests/examples/journey.py``'s
helpers): ``init`` in its repository, staging made a swarm environment of one replica
(the shop's journey covers two), ADMIN_PASSWORD a secret of staging; its first tag built
once, ``stageline image`` from the stored artifact, shipped to staging; the release
command ran in a one-off container against staging's own database (and no other
environment's was made); the critical path (log in with the secret, register a user, read
the database) answers through staging's front; ``down`` removes every service, secret and
container of the environment.

The commits are dated (``GIT_*_DATE``): the same source then gives the same artifact
digest in every run, and the engine's kept data folder (``tests/swarm/docker.py``) finds
the image built for it by its labels instead of building it again.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from stageline.agent.switch import free_ports
from stageline.targets.swarm.engine import Engine
from stageline.usecases.pipeline import Session
from tests.e2e.helpers import staging_first
from tests.examples.journey import (
    PASSWORDS,
    Example,
    adopted,
    declare_secret,
    initialise,
    load,
    login_gate,
    ok,
    ok_stdout,
    service_processes,
    serving,
    stageline,
)
from tests.examples.test_flask_redis import FLASK, the_worker_welcomes
from tests.examples.test_monorepo_fastapi import MONOREPO
from tests.swarm.docker import BASE_IMAGE
from tests.swarm.test_journey import services_of

pytestmark = pytest.mark.slow
#: the commits' date: the same source, the same artifact digest, run after run
GIT_DATE = "2026-11-02T10:00:00+00:00"


@dataclass(frozen=True)
class Shape:
    """An example, and the migration its release command brings a new database to."""

    example: Example
    revision: str
    revision_query: str = "SELECT version_num FROM alembic_version"


SHAPES = (Shape(MONOREPO, "0001"), Shape(FLASK, "7f94375ee83b"))


@pytest.fixture
def dated_commits(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in ("GIT_AUTHOR_DATE", "GIT_COMMITTER_DATE"):
        monkeypatch.setenv(variable, GIT_DATE)


@pytest.fixture(params=SHAPES, ids=lambda shape: shape.example.name)
def shaped(request: pytest.FixtureRequest, dated_commits: None) -> Iterator[tuple[Shape, Path]]:
    """The example's repository, every process and swarm service it started removed after."""
    shape: Shape = request.param
    with adopted(shape.example) as repo:
        yield shape, repo


def staging_on_swarm(repo: Path, example: Example, engine: Engine) -> None:
    """The file ``init`` wrote (checked unedited), then what the operator adds: staging
    first and on swarm (one replica), ADMIN_PASSWORD a secret of staging, the
    critical-path gate, the worker process type when the example has one."""
    pipeline_file = initialise(example, repo)
    staging_first(repo)
    text = pipeline_file.read_text(encoding="utf-8")
    local = text.split("[environments.staging]\n", 1)[1].split("\n", 1)[0]
    port = local.removeprefix('target = { kind = "local", port = ').removesuffix(" }")
    assert port.isdigit(), local
    swarm = (
        f'target = {{ kind = "swarm", port = {port}, replicas = 1, '
        f'base_image = "{BASE_IMAGE}", docker_host = "{engine.host}" }}'
    )
    text = text.replace(local, swarm, 1)
    text = declare_secret(text, load(pipeline_file), "staging", "ADMIN_PASSWORD")
    text += "\n" + login_gate(example) + service_processes(load(pipeline_file), example)
    pipeline_file.write_text(text, encoding="utf-8")
    ok(repo, "check")
    ok(repo, "secrets", "set", "staging", "ADMIN_PASSWORD", stdin=PASSWORDS["staging"])


def database_revision(repo: Path, environment: str, query: str) -> str:
    """The migration ``environment``'s own database is at (as the operator would ask it)."""
    with Session.open(repo) as session:
        pipe = session.pipeline()
        facts = session.target(pipe.environment(environment), pipe.service.name).backing(
            start=False
        )
    assert facts is not None, f"{environment} has no PostgreSQL"
    with psycopg.connect(facts.url, autocommit=True, connect_timeout=10) as conn:
        row = conn.execute(query).fetchone()
    return str(row[0]) if row else ""


def spec(service: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = service["Spec"]["TaskTemplate"]["ContainerSpec"]
    return found


def a_worker_that_cannot_start_fails_the_deploy(
    repo: Path, tag: str, engine: Engine, staging: dict[str, Any]
) -> None:
    """Staging's Redis moved to a port nothing listens on: the web tasks stay healthy (their
    health route reads the database), the worker exits at its first job; the deploy fails
    before the switch with the worker's log, its services are removed, the first release
    keeps serving."""
    before = sorted(s["Spec"]["Name"] for s in services_of(engine, "staging"))
    (nowhere,) = free_ports(1)
    pipeline_file = repo / "stageline.toml"
    text = pipeline_file.read_text(encoding="utf-8")
    redis = f'REDIS_URL = "redis://127.0.0.1:{nowhere}/0"\n'
    pipeline_file.write_text(text + f"\n[environments.staging.vars]\n{redis}", encoding="utf-8")
    done = stageline(repo, "deploy", "staging", tag)
    said = done.stdout + done.stderr
    assert done.returncode != 0, said
    assert "worker process did not start in staging on swarm" in said, said
    last = json.loads(ok_stdout(repo, "history", "staging", "--json"))[0]
    assert last["status"] == "failed", last
    assert f"127.0.0.1:{nowhere}" in last["detail"], last  # the worker's log: where it went
    assert sorted(s["Spec"]["Name"] for s in services_of(engine, "staging")) == before
    still = serving(repo, "staging")
    assert (still["digest"], still["health"]) == (staging["digest"], "healthy"), still
    assert still["workers"] == {"worker": "running"}, still


def test_a_differently_shaped_service_ships_to_swarm(
    shaped: tuple[Shape, Path], swarm_engine: Engine
) -> None:
    shape, repo = shaped
    example, tag = shape.example, shape.example.tags[0]
    staging_on_swarm(repo, example, swarm_engine)

    ok(repo, "build", tag)
    image = json.loads(ok_stdout(repo, "image", tag, "--json"))
    shipped = ok(repo, "ship", tag)
    # the critical path through staging's front (log in with the secret, register a user,
    # read the database), as the after-deploy check of the switch
    assert "after-deploy checks passed: smoke, critical-path" in shipped, shipped
    staging = serving(repo, "staging")
    assert staging["tag"] == tag and staging["health"] == "healthy", staging
    assert image["artifact"] == staging["digest"]
    services = {s["Spec"]["Name"]: spec(s) for s in services_of(swarm_engine, "staging")}
    web = [name for name, found in services.items() if found["Args"] == ["web"]]
    assert len(web) == 1, list(services)
    assert services[web[0]]["Image"] == image["tag"]  # the image made from the artifact
    labels = swarm_engine.inspect("image", image["tag"])[0]["Config"]["Labels"]
    assert labels["org.stageline.artifact"] == staging["digest"]

    # the release command ran in a one-off container, on staging's database alone
    log = (repo / ".stageline/envs/staging/logs/release.log").read_text(encoding="utf-8")
    assert log.count("(swarm)") == 1, log
    assert database_revision(repo, "staging", shape.revision_query) == shape.revision
    assert not (repo / ".stageline/envs/production").exists()
    ran = swarm_engine.run(["ps", "-a", "--format", "{{.Names}}"]).split()
    assert not [name for name in ran if "-staging-run-" in name], ran

    # each other process type is a Swarm service of its own, running the same image
    workers = {name: found for name, found in services.items() if name != web[0]}
    assert sorted(found["Args"] for found in workers.values()) == [
        ["worker", name] for name, _ in example.processes
    ]
    assert all(found["Image"] == image["tag"] for found in workers.values())
    if example.processes:
        with httpx.Client(base_url=staging["url"], timeout=30, trust_env=False) as client:
            the_worker_welcomes(client, PASSWORDS["staging"])
        # its log, from its own service: the critical path's user and this one, welcomed
        said = " ".join(ok(repo, "logs", "staging", "--process", "worker").split())
        assert "welcomed smoke-" in said and "welcomed worker-" in said, said
        assert staging["workers"] == {"worker": "running"}, staging  # in `status`, as on local
        a_worker_that_cannot_start_fails_the_deploy(repo, tag, swarm_engine, staging)

    ok(repo, "down", "staging")
    assert services_of(swarm_engine, "staging") == []
    left = swarm_engine.run(["secret", "ls", "--format", "{{.Name}}"]).split()
    assert not [name for name in left if name.startswith(web[0])], left
    mine = "label=org.stageline.environment=staging"
    assert swarm_engine.run(["ps", "-aq", "--filter", mine]).split() == []
