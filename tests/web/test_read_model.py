"""One read model: ``stageline status --json`` and ``GET /api/pipeline`` are one document."""

from __future__ import annotations

import json

from starlette.testclient import TestClient

from stageline.usecases.views import CLOCK_KEYS, without_clock
from tests.e2e.helpers import cli
from tests.web.seed import BEN, NEW, Seeded


def keys(data: object) -> set[str]:
    """Every key path in ``data`` (lists by position)."""
    found: set[str] = set()

    def walk(value: object, at: str) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                found.add(f"{at}.{key}")
                walk(item, f"{at}.{key}")
        elif isinstance(value, list):
            for index, item in enumerate(value):
                walk(item, f"{at}[{index}]")

    walk(data, "")
    return found


def test_status_json_is_the_api_pipeline_document(client: TestClient, seeded: Seeded) -> None:
    given = client.post(
        "/api/environments/staging/verdicts",
        json={"kind": "approve", "note": "looks right"},
        headers={"Authorization": f"Bearer {seeded.tokens[BEN]}"},
    )
    assert given.status_code == 201
    api = client.get("/api/pipeline").json()
    shown = cli(seeded.root, "status", "--json")
    assert shown.returncode == 0, shown.stderr
    status = json.loads(shown.stdout)

    assert keys(status) == keys(api)
    assert without_clock(status) == without_clock(api)
    assert {k.rsplit(".", 1)[-1] for k in keys(api)} >= CLOCK_KEYS - {"oldest_age_seconds"}
    # what both readers relied on before they shared a shape
    staging = next(e for e in status["environments"] if e["name"] == "staging")
    assert (staging["release"], staging["digest"], staging["gate"]) == (NEW, seeded.new, True)
    assert staging["version"] == NEW.removeprefix("v") and staging["tag"] == NEW
    signoff = status["signoff"]
    assert (signoff["state"], signoff["promote"]) == ("held", False)
    assert signoff["approvals"] == {"in": 1, "required": 2, "people": [BEN]}
    assert [v["note"] for v in signoff["verdicts"]] == ["looks right"]
    assert status["latest_artifact"] == status["build"]["digest"] == seeded.new
    assert status["time_gap"]["ahead"] == "staging"


def test_status_draws_the_same_view(seeded: Seeded) -> None:
    drawn = cli(seeded.root, "status")
    assert drawn.returncode == 0, drawn.stderr
    text = drawn.stdout
    assert "held in staging:" in text and "0 of 2 approvals for sha256:" in text
    assert "v1.6.0" in text and seeded.new.removeprefix("sha256:")[:12] in text
    assert "time gap:" in text and "who may deploy and approve" in text
