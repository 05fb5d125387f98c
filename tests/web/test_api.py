"""The JSON API through Starlette's TestClient on a real workspace and store: reads,
bearer-token sign-off under the CLI's rules, JSON errors, anonymous access, OpenAPI."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.routing import Route
from starlette.testclient import TestClient

from stageline.usecases.pipeline import Session
from stageline.web import create_app
from tests.web.seed import ANA, BEN, CHEN, KEY, LEAKED, NEW, OLD, Seeded, set_anonymous

URL = "/api/environments/staging/verdicts"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def stored(root: Path) -> list[tuple[str, str]]:
    with Session.open(root) as session:
        return [(v.person, v.kind) for v in session.store.verdicts("staging")]


def test_the_pipeline_as_json(client: TestClient, seeded: Seeded) -> None:
    data = client.get("/api/pipeline").json()
    envs = {e["name"]: e for e in data["environments"]}
    assert list(envs) == ["development", "test", "staging", "production"]
    assert envs["staging"]["gate"] is True and envs["production"]["production"] is True
    assert (envs["staging"]["release"], envs["staging"]["digest"]) == (NEW, seeded.new)
    assert envs["production"]["release"] == OLD and envs["production"]["health"] == "down"
    assert data["build"]["digest"] == seeded.new
    signoff = data["signoff"]
    assert (signoff["state"], signoff["source"], signoff["target"]) == (
        "held", "staging", "production",
    )  # fmt: skip
    assert {g["name"]: g["status"] for g in signoff["gates"]} == {
        "smoke": "passed", "integration": "passed", "no-real-side-effects": "passed",
        "migrations": "passed", "load": "passed", "parity": "pending",
    }  # fmt: skip
    assert signoff["approvals"] == {"in": 0, "required": 2, "people": []}
    assert len(signoff["holds"]) == 2


def test_sign_off_by_bearer_token_applies_the_cli_rules(client: TestClient, seeded: Seeded) -> None:
    given = client.post(
        URL, json={"kind": "approve", "note": "ok"}, headers=bearer(seeded.tokens[BEN])
    )
    assert given.status_code == 201
    body = given.json()
    assert body["verdict"]["person"] == BEN and body["verdict"]["note"] == "ok"
    assert body["signoff"]["approvals"]["in"] == 1
    # the same person twice counts once; the deployer may not approve at all
    client.post(URL, json={"kind": "approve"}, headers=bearer(seeded.tokens[BEN]))
    again = client.get("/api/pipeline").json()["signoff"]["approvals"]
    assert again == {"in": 1, "required": 2, "people": [BEN]}
    refused = client.post(URL, json={"kind": "approve"}, headers=bearer(seeded.tokens[ANA]))
    assert refused.status_code == 403
    assert "self-approval is off" in refused.json()["error"] and refused.json()["hint"]
    assert (ANA, "approve") not in stored(seeded.root)
    done = client.post(URL, json={"kind": "approve"}, headers=bearer(seeded.tokens[CHEN]))
    assert done.json()["signoff"]["approvals"]["in"] == 2


@pytest.mark.parametrize(
    ("headers", "body", "status", "error"),
    [
        ({}, {"kind": "approve"}, 401, "Bearer"),
        (bearer("stl_not-a-token"), {"kind": "approve"}, 401, "unknown token"),
        ("BEN", {"kind": "maybe"}, 400, "approve or reject"),
        ("BEN", ["approve"], 400, "approve or reject"),
        ("BEN", {"kind": "approve", "note": 5}, 400, "note must be a string"),
    ],
)
def test_a_bad_sign_off_request_is_a_json_error_and_stores_nothing(
    client: TestClient,
    seeded: Seeded,
    headers: Any,
    body: Any,
    status: int,
    error: str,
) -> None:
    if headers == "BEN":
        headers = bearer(seeded.tokens[BEN])
    answer = client.post(URL, json=body, headers=headers)
    assert answer.status_code == status and error in answer.json()["error"]
    assert stored(seeded.root) == []


def test_not_json_an_unknown_environment_and_a_revoked_token(
    client: TestClient, seeded: Seeded
) -> None:
    ben = bearer(seeded.tokens[BEN])
    assert client.post(URL, content=b"{nope", headers=ben).status_code == 400
    unknown = client.post("/api/environments/qa/verdicts", json={"kind": "approve"}, headers=ben)
    assert unknown.status_code == 404 and "qa" in unknown.json()["error"]
    with Session.open(seeded.root) as session:
        session.store.vault.revoke_tokens("web", BEN)
    revoked = client.post(URL, json={"kind": "approve"}, headers=ben)
    assert revoked.status_code == 401 and "revoked" in revoked.json()["error"]
    assert stored(seeded.root) == []


def test_the_cookie_does_not_sign_off_through_the_api(client: TestClient, seeded: Seeded) -> None:
    page = client.get("/signin").text
    csrf = page.split('name="csrf_token" value="')[1].split('"')[0]
    client.post("/signin", data={"token": seeded.tokens[BEN], "csrf_token": csrf})
    assert client.post(URL, json={"kind": "approve"}).status_code == 401  # no CSRF: bearer only
    assert stored(seeded.root) == []


def test_a_release_as_json_with_evidence_masked(client: TestClient, seeded: Seeded) -> None:
    data = client.get(f"/api/releases/{seeded.new[7:21]}").json()
    assert data["digest"] == seeded.new and data["version"] == NEW
    assert {r["gate"] for r in data["gate_runs"]} == {
        "smoke", "integration", "no-real-side-effects", "migrations", "load",
    }  # fmt: skip
    smoke = next(r for r in data["gate_runs"] if r["gate"] == "smoke")
    assert "[secret:PAYMENT_API_KEY]" in smoke["evidence"]["requests"][0]["body"]
    assert LEAKED not in str(data)
    rehearsal = next(r for r in data["gate_runs"] if r["gate"] == "migrations")["rehearsal"]
    assert rehearsal["locks"][0]["mode"] == "AccessExclusiveLock"
    assert [d["environment"] for d in data["deployments"]] == ["staging", "test", "development"]
    assert [e["kind"] for e in data["audit"]][:3] == ["deploy.succeeded"] * 3
    assert client.get("/api/releases/abc").status_code == 400
    missing = client.get("/api/releases/" + "f" * 64)
    assert missing.status_code == 404 and missing.json()["error"]


def test_history_audit_and_metrics_as_json(client: TestClient, seeded: Seeded) -> None:
    history = client.get("/api/history?environment=staging&limit=5").json()
    assert [d["environment"] for d in history["deployments"]] == ["staging"]
    assert client.get("/api/history?status=failed").json()["deployments"] == []
    assert len(client.get("/api/history?limit=2").json()["deployments"]) == 2
    assert client.get("/api/history?limit=lots").status_code == 400
    assert client.get("/api/history?environment=qa").status_code == 404
    audit = client.get("/api/audit?environment=staging&limit=3").json()["events"]
    assert len(audit) == 3 and all(e["environment"] == "staging" for e in audit)
    assert audit[0]["id"] > audit[-1]["id"]  # newest first
    metrics = client.get("/api/metrics").json()
    assert metrics["production"] == "production" and metrics["changes"] == 1
    assert len(metrics["production_per_day"]) == 30


def test_anonymous_none_needs_a_token_on_the_api(seeded: Seeded) -> None:
    pipeline_file = seeded.root / "stageline.toml"
    set_anonymous(pipeline_file, "none")
    with TestClient(create_app(seeded.root, secret_key=KEY)) as client:
        for path in ("/api/pipeline", f"/api/releases/{seeded.new}", "/api/history",
                     "/api/metrics", "/api/audit"):  # fmt: skip
            refused = client.get(path)
            assert refused.status_code == 401 and refused.json()["error"]
            assert client.get(path, headers=bearer(seeded.tokens[CHEN])).status_code == 200
        assert client.get("/api/pipeline", headers=bearer("stl_bad")).status_code == 401
        assert client.get("/api/openapi.json").status_code == 200


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def test_the_openapi_document_lists_every_api_route_and_its_references_resolve(
    client: TestClient,
) -> None:
    answer = client.get("/api/openapi.json")
    doc = answer.json()
    assert doc["openapi"] == "3.1.0" and doc["info"]["title"]
    app = client.app
    routes = {
        (route.path, method.lower())
        for route in app.routes  # type: ignore[attr-defined]
        if isinstance(route, Route) and route.path.startswith("/api/")
        for method in (route.methods or ()) - {"HEAD"}
    }
    documented = {(path, method) for path, item in doc["paths"].items() for method in item}
    assert routes == documented
    schemas = doc["components"]["schemas"]
    for ref in _refs(doc):
        assert ref.startswith("#/components/schemas/") and ref.rsplit("/", 1)[1] in schemas
