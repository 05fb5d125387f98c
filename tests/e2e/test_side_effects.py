"""Irreversible side effects only in production, on the real example service."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from stageline.usecases.demo import TAGS
from tests.e2e.helpers import PAYMENT_KEY, cli, sign_off, staging_first

pytestmark = pytest.mark.slow
OLD = TAGS[0]


class Provider:
    """A stand-in payment and email provider on 127.0.0.1 that records every request."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, object]]] = []
        calls = self.requests

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"] or 0)))
                calls.append((self.path, self.headers.get("Authorization", ""), body))
                data = json.dumps({"id": f"p-{len(calls)}", "status": "succeeded"}).encode()
                self.send_response(201)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def paths(self) -> list[str]:
        return sorted(path for path, _auth, _body in self.requests)


@pytest.fixture
def provider() -> Iterator[Provider]:
    stand_in = Provider()
    yield stand_in
    stand_in.server.shutdown()
    stand_in.server.server_close()


def order(url: str) -> httpx.Response:
    sku = httpx.get(f"{url}/products", timeout=5).json()[0]["sku"]
    return httpx.post(
        f"{url}/orders",
        json={"customer_email": "buyer@example.com", "lines": [{"sku": sku, "quantity": 1}]},
        timeout=10,
    )


def test_staging_records_production_charges(shop: Path, provider: Provider) -> None:
    staging_first(shop)
    pipeline_file = shop / "stageline.toml"
    text = pipeline_file.read_text()
    text = text.replace("https://payments.example.invalid/", provider.url)
    text = text.replace("https://mail.example.invalid/", provider.url)
    text = text.replace('"payments.example.invalid:443"', f'"{provider.address}"')
    # the smoke gate's order after each switch would add its own outbox records
    text = text.replace("[environments.staging]\n", "[environments.staging]\nafter_deploy = []\n")
    pipeline_file.write_text(text)
    assert provider.url in text and provider.address in text

    assert cli(shop, "ship", OLD).returncode == 0
    envs = {e["name"]: e for e in json.loads(cli(shop, "status", "--json").stdout)["environments"]}

    placed = order(envs["staging"]["url"])
    assert placed.status_code == 201, placed.text
    assert provider.requests == []
    outbox = json.loads(cli(shop, "outbox", "staging", "--json").stdout)
    assert sorted(r["kind"] for r in outbox) == ["email", "payments"]
    assert all(r["environment"] == "staging" for r in outbox)
    assert PAYMENT_KEY not in json.dumps(outbox)

    gate = cli(shop, "verify", "staging", "--gate", "no-real-side-effects")
    assert gate.returncode == 0, gate.stdout + gate.stderr
    assert provider.requests == []

    sign_off(shop)
    assert cli(shop, "promote", "staging").returncode == 0
    placed = order(envs["production"]["url"])
    assert placed.status_code == 201, placed.text
    assert provider.paths() == ["/charges", "/messages"]
    charge = next(r for r in provider.requests if r[0] == "/charges")
    assert charge[1] == f"Bearer {PAYMENT_KEY}"
    assert json.loads(cli(shop, "outbox", "production", "--json").stdout) == []
