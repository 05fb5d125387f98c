"""The swarm target's keys: only with kind = "swarm", and a base image is required; no
scale to zero on swarm."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from stageline.config import load_pipeline
from stageline.config.model import Target
from tests.config.test_loader import VALID, issues_of, write


def test_a_swarm_target_takes_its_keys() -> None:
    target = Target.model_validate(
        {"kind": "swarm", "port": 8604, "base_image": "python:3.11-slim", "replicas": 3,
         "registry": "127.0.0.1:5000", "cpus": 0.5, "memory_mb": 256}
    )  # fmt: skip
    assert (target.replicas, target.memory_mb, target.docker_host) == (3, 256, None)


def test_a_swarm_target_needs_a_base_image() -> None:
    with pytest.raises(ValidationError, match="needs base_image"):
        Target.model_validate({"kind": "swarm", "port": 8604})


def test_swarm_keys_on_a_local_target_are_refused() -> None:
    with pytest.raises(ValidationError, match='replicas: only for kind = "swarm"'):
        Target.model_validate({"kind": "local", "port": 8604, "replicas": 3})
    local = Target.model_validate({"kind": "local", "port": 8604})
    assert local.replicas == 2
    # a local target's dump (every key, swarm's at their defaults) is a valid target again
    assert Target.model_validate(local.model_dump()) == local


def test_scale_to_zero_on_a_swarm_environment_is_refused_by_check(tmp_path: Path) -> None:
    swarm = 'target = { kind = "swarm", port = 8104, base_image = "python:3.11-slim" }'
    text = VALID.replace('target = { kind = "local", port = 8104 }', swarm, 1)
    text = text.replace("[defaults]\n", "[defaults]\nscale_to_zero_after = 600\n", 1)
    issues = issues_of(tmp_path, text)
    assert len(issues) == 1, issues
    assert 'scale_to_zero_after is not supported on kind = "swarm"' in issues[0]
    assert "environments.production" in issues[0]
    # the local environments keep it; the swarm one without it is valid
    fixed = text.replace("\nscale_to_zero_after = 600\n", "\n", 1).replace(
        "[environments.test]\n", "[environments.test]\nscale_to_zero_after = 600\n", 1
    )
    assert load_pipeline(write(tmp_path, fixed)).environment("test").scale_to_zero_after == 600


@pytest.mark.parametrize(
    ("listen", "message"),
    [
        ("203.0.113.7x", "expected an IP address"),
        ("8.8.8.8", "8.8.8.8 is a public address: tasks would answer the internet"),
        ("2001:4860::8888", "is a public address"),
    ],
)
def test_a_task_never_listens_on_a_public_address(listen: str, message: str) -> None:
    given = {"kind": "swarm", "port": 8604, "base_image": "python:3.11-slim", "listen": listen}
    with pytest.raises(ValidationError, match=message):
        Target.model_validate(given)


def test_listen_is_a_swarm_key_with_a_loopback_default() -> None:
    swarm = {"kind": "swarm", "port": 8604, "base_image": "b"}
    assert Target.model_validate(swarm).listen == "127.0.0.1"
    assert Target.model_validate({**swarm, "listen": "0.0.0.0"}).listen == "0.0.0.0"
    assert Target.model_validate({**swarm, "listen": "10.0.0.5"}).listen == "10.0.0.5"
    with pytest.raises(ValidationError, match='listen: only for kind = "swarm"'):
        Target.model_validate({"kind": "local", "port": 8604, "listen": "0.0.0.0"})
