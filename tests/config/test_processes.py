"""``[service.processes]``, ``[service] persist`` and ``[services.redis]``: what the file
may say, what the service receives, and what the manifest keeps (pure)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from stageline.artifacts.manifest import Manifest, PythonInfo, ServiceInfo, SourceInfo
from stageline.config import load_pipeline
from stageline.config.model import Environment, Redis, Service, Target, Tier
from stageline.config.resolve import RedisFacts, ReleaseFacts, service_environment
from stageline.errors import ConfigError

RELEASE = ReleaseFacts("1.0.0", "sha256:" + "a" * 64)
REDIS = RedisFacts("127.0.0.1", 6390, "pw/with:odd")


def service(**fields: object) -> Service:
    return Service.model_validate({"name": "jobs", **fields})


def env(**changes: object) -> Environment:
    fields: dict[str, object] = {
        "name": "staging",
        "tier": Tier.staging,
        "url": "http://127.0.0.1:8603",
        "target": Target(port=8603),
        **changes,
    }
    return Environment.model_validate(fields)


def test_web_stands_for_start_and_the_other_types_are_workers() -> None:
    svc = service(processes={"web": "gunicorn app:app", "worker": "rq worker", "beat": "b"})
    assert svc.start == "gunicorn app:app"
    assert svc.process_types == {"web": "gunicorn app:app", "beat": "b", "worker": "rq worker"}
    assert svc.workers == {"beat": "b", "worker": "rq worker"}
    plain = service(start="gunicorn app:app")
    assert plain.workers == {} and plain.process_types == {"web": "gunicorn app:app"}


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"start": "a", "processes": {"web": "b"}}, "processes.web and start differ"),
        ({"start": "a", "processes": {"Worker": "b"}}, "process type 'Worker'"),
        ({"processes": {"worker": "b"}}, "start"),  # no web, no start
        ({"start": "a", "persist": ["/var/uploads"]}, "inside the service's working folder"),
        ({"start": "a", "persist": ["../uploads"]}, "inside the service's working folder"),
        ({"start": "a", "persist": ["data", "data/uploads"]}, "holds another one"),
    ],
)
def test_bad_process_types_and_persist_folders_are_refused(
    fields: dict[str, object], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        service(**fields)


def test_persist_entries_are_kept_as_relative_folders() -> None:
    assert service(start="a", persist=["uploads/", "var/sessions"]).persist == [
        "uploads",
        "var/sessions",
    ]


def test_redis_external_needs_a_redis_url_and_system_none() -> None:
    with pytest.raises(ValidationError, match="needs a url"):
        Redis(provider="external")
    with pytest.raises(ValidationError, match="only used with provider = 'external'"):
        Redis(url="redis://x:6379")
    with pytest.raises(ValidationError, match="redis:// url"):
        Redis(provider="external", url="http://x")


def test_the_service_receives_redis_facts_and_REDIS_URL() -> None:
    staging = env(
        services={"redis": {"provider": "system"}},
        vars={"CACHE": "${redis.url}", "RHOST": "${redis.host}:${redis.port}"},
    )
    got = service_environment(staging, RELEASE, port=8603, postgres=None, secrets={}, redis=REDIS)
    assert got["REDIS_URL"] == got["CACHE"] == "redis://:pw%2Fwith%3Aodd@127.0.0.1:6390/0"
    assert got["RHOST"] == "127.0.0.1:6390"
    assert RedisFacts.from_url(got["REDIS_URL"]) == REDIS
    assert "pw/with" not in repr(REDIS)


def test_a_copy_given_no_redis_facts_points_at_no_server() -> None:
    """Rehearsal and isolated gates resolve the variables without the live server."""
    staging = env(services={"redis": {"provider": "system"}}, vars={"CACHE": "${redis.url}"})
    got = service_environment(staging, RELEASE, port=8603, postgres=None, secrets={})
    assert got["CACHE"] == "redis://127.0.0.1:0/0"


def test_redis_names_without_redis_say_what_to_declare(tmp_path: Path) -> None:
    (tmp_path / "stageline.toml").write_text(
        '[service]\nname = "jobs"\nstart = "x"\n\n'
        '[environments.staging]\ntier = "staging"\nurl = "http://127.0.0.1:8603"\n'
        'target = { port = 8603 }\nvars = { CACHE = "${redis.url}" }\n'
    )
    with pytest.raises(ConfigError) as caught:
        load_pipeline(tmp_path)
    assert "services.redis" in str(caught.value.issues[0].hint)


def test_workers_need_blue_green(tmp_path: Path) -> None:
    (tmp_path / "stageline.toml").write_text(
        '[service]\nname = "jobs"\n[service.processes]\nweb = "w"\nworker = "q"\n\n'
        '[defaults.services.redis]\nprovider = "system"\n\n'
        '[environments.staging]\ntier = "staging"\nurl = "http://127.0.0.1:8603"\n'
        'target = { port = 8603 }\nstrategy = "restart"\n'
    )
    with pytest.raises(ConfigError) as caught:
        load_pipeline(tmp_path)
    issue = caught.value.issues[0]
    assert issue.key == "environments.staging.strategy" and "worker" in issue.message
    assert issue.line == 14


def test_the_manifest_keeps_workers_and_persist_but_not_when_empty() -> None:
    """An artifact without them keeps the bytes (and digest) it always had."""
    plain = ServiceInfo(name="jobs", version="1", kind="app", start="w", health="/h")
    with_them = plain.model_copy(update={"processes": {"worker": "q"}, "persist": ["up"]})

    def manifest(info: ServiceInfo) -> Manifest:
        return Manifest(
            service=info,
            source=SourceInfo(ref="v1", tag="v1", commit="c", commit_time="t"),
            python=PythonInfo(implementation="cpython", version="3.11", platform="linux"),
            pins=[],
            pinned_from=None,
            files=[],
        )

    assert b"processes" not in manifest(plain).canonical_json()
    assert b"persist" not in manifest(plain).canonical_json()
    assert b'"processes":{"worker":"q"}' in manifest(with_them).canonical_json()
    assert manifest(plain).digest != manifest(with_them).digest
