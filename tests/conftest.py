"""Shared test fixtures."""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from stageline.errors import BackingServiceError
from stageline.services.postgres import PostgresServer, find_binaries, free_port

# ---------------------------------------------------------------------------------------
# The test session gets a home of its own, before any fixture of any scope runs: master
# keys default to ~/.config/stageline/ (one per workspace, keyed by its path), and no test
# may read or write the real one. Caches stay where they are (uv's, pip's), and git gets
# an identity (the real ~/.gitconfig is out of reach).
# ---------------------------------------------------------------------------------------

# ---------------------------------------------------------------------------------------
# Modules with end-to-end tests (marked slow) run first, whole journeys before the rest:
# with xdist, the long ones then start while short tests fill the other worker, instead
# of one worker finishing the suite alone with the last long test. The order within each
# group is pytest's.
# ---------------------------------------------------------------------------------------


#: folders of whole journeys (minutes each), started before any other slow module, the
#: longest first (swarm's builds images and runs containers on vfs: several minutes): a
#: worker starts its share of the list at its head, so the longest starts at once
_LONGEST = ("swarm", "fresh", "examples", "e2e")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    slow_modules = {item.module for item in items if item.get_closest_marker("slow")}

    def rank(item: pytest.Item) -> int:
        if item.module not in slow_modules:
            return len(_LONGEST) + 1
        folder = item.path.parent.name
        return _LONGEST.index(folder) if folder in _LONGEST else len(_LONGEST)

    items.sort(key=rank)


_GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "stageline tests",
    "GIT_AUTHOR_EMAIL": "tests@stageline.invalid",
    "GIT_COMMITTER_NAME": "stageline tests",
    "GIT_COMMITTER_EMAIL": "tests@stageline.invalid",
}


@pytest.fixture
def demo_ports() -> Iterator[None]:
    """Hold the example pipeline's fixed ports (8601-8604) for the test: the demo binds
    them, on this host or inside the fresh-machine root, so two such tests run one after
    the other even on different xdist workers."""
    with open(Path(tempfile.gettempdir()) / "stageline-demo-ports.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@pytest.fixture(scope="session", autouse=True)
def private_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """``HOME`` and ``XDG_CONFIG_HOME`` in a fresh folder for the whole session (per
    xdist worker), so module- and session-scoped workspaces get it too."""
    real_cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    home = tmp_path_factory.mktemp("home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HOME", str(home))
        patch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
        patch.setenv("XDG_CACHE_HOME", real_cache)
        for name, value in _GIT_IDENTITY.items():
            if name not in os.environ:
                patch.setenv(name, value)
        yield home


# ---------------------------------------------------------------------------------------
# PostgreSQL: one throwaway server per test session (per xdist worker: each worker has
# its own tmp_path_factory folder, hence its own server), one fresh database per test.
# ---------------------------------------------------------------------------------------


@contextmanager
def _postgres_folder(factory: pytest.TempPathFactory, name: str) -> Iterator[Path]:
    """A folder for a test PostgreSQL server's data and run folders.

    As root, PostgreSQL runs as another user, which must traverse the folders above its
    data. pytest's folders live under /tmp/pytest-of-root, which every pytest start (an
    xdist worker, another run) resets to 0700: so as root the server gets its own folder
    under the system temp dir, removed afterwards.
    """
    if os.geteuid() != 0:
        yield factory.mktemp(name)
        return
    folder = Path(tempfile.mkdtemp(prefix=f"stageline-{name}-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def postgres_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A folder where a test may put its own PostgreSQL server's data folder."""
    with _postgres_folder(tmp_path_factory, "pgtest") as folder:
        yield folder


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    """A running PostgreSQL (embedded provider) on a free port, stopped at session end."""
    with _postgres_folder(tmp_path_factory, "postgres") as folder:
        yield from _session_server(folder / "data")


def _session_server(data_dir: Path) -> Iterator[PostgresServer]:
    binaries = find_binaries("embedded", None)
    for attempt in range(3):  # the free port may be taken before the server binds it
        server = PostgresServer(data_dir, free_port(), binaries)
        server.init(durable=False)
        try:
            server.start()
            break
        except BackingServiceError:
            if attempt == 2:
                raise
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """The URL of a new, empty database on the session's server; dropped afterwards."""
    name = f"test_{uuid.uuid4().hex[:16]}"
    postgres_server.create_database(name)
    try:
        yield postgres_server.url(name)
    finally:
        postgres_server.drop_database(name)
