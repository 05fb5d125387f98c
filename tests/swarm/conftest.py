"""One Docker engine and swarm per test session (per xdist worker), shared by every
swarm test (``docker.py``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from stageline.targets.swarm.engine import Engine
from tests.e2e.helpers import shop_template
from tests.swarm.docker import docker_engine

__all__ = ["shop_template"]


@pytest.fixture(scope="session")
def swarm_engine() -> Iterator[Engine]:
    with docker_engine() as engine:
        yield engine
