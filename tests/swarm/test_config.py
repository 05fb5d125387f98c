"""The swarm target's keys: only with kind = "swarm", and a base image is required."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from stageline.config.model import Target


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
