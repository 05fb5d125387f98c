"""The example service (examples/shop) works: its own suite passes against a real
PostgreSQL, and the real service serves orders over HTTP when started with uvicorn."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
SHOP = REPO / "examples" / "shop"
STARTUP_TIMEOUT_SECONDS = 30.0

pytestmark = pytest.mark.slow


def shop_env(database_url: str, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST_")}
    paths = [str(SHOP / "src"), env.get("PYTHONPATH", "")]
    env.update(DATABASE_URL=database_url, PYTHONPATH=os.pathsep.join(filter(None, paths)))
    env.update(extra)
    return env


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_shop_suite_passes(postgres_url: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "examples/shop/tests", "-q", "-p", "no:cacheprovider"],
        cwd=REPO,
        env=shop_env(postgres_url),
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    passed = re.search(r"(\d+) passed", output)
    assert passed is not None, output
    assert int(passed.group(1)) > 0
    assert not re.search(r"\d+ (failed|errors?)\b", output), output


def migrate(database_url: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "alembic", "upgrade", "head"],
        cwd=SHOP,
        env=shop_env(database_url),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def wait_healthy(base_url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"shop exited with {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{base_url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail(f"shop not healthy after {STARTUP_TIMEOUT_SECONDS}s:\n{log.read_text()}")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


@pytest.fixture
def shop_url(postgres_url: str, tmp_path: Path) -> Iterator[str]:
    """The real service: migrated, started by uvicorn outside its source tree, healthy."""
    migrate(postgres_url)
    port = free_port()
    env = shop_env(postgres_url, APP_ENV="testing", STAGELINE_DIGEST="sha256:" + "ab" * 32)
    command = [sys.executable, "-m", "uvicorn", "shop.app:app"]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    log = tmp_path / "shop.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=sink, stderr=sink)
    try:
        base_url = f"http://127.0.0.1:{port}"
        wait_healthy(base_url, process, log)
        yield base_url
    finally:
        stop(process)


def test_service_places_an_order_over_http(shop_url: str) -> None:
    with httpx.Client(base_url=shop_url, timeout=10) as client:
        health = client.get("/healthz").json()
        assert health["status"] == "ok"
        assert health["database"] == "ok"
        assert health["environment"] == "testing"
        assert health["digest"] == "sha256:" + "ab" * 32

        stock = {p["sku"]: p["stock"] for p in client.get("/products").json()}
        order = {
            "customer_email": "ada@example.com",
            "lines": [{"sku": "MUG-CLASSIC", "quantity": 2}],
        }
        created = client.post("/orders", json=order)
        assert created.status_code == 201, created.text
        assert created.json()["total_cents"] == 2 * 1200

        fetched = client.get(f"/orders/{created.json()['id']}")
        assert fetched.json() == {k: v for k, v in created.json().items() if k != "payment"}
        after = {p["sku"]: p["stock"] for p in client.get("/products").json()}
        assert after["MUG-CLASSIC"] == stock["MUG-CLASSIC"] - 2
