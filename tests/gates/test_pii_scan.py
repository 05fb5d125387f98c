"""Kind ``pii-scan`` end to end on real PostgreSQL: a workspace, a pipeline file whose
production and staging databases are on the test server, and the gate's verdicts."""

from __future__ import annotations

import time
from pathlib import Path

import psycopg
import pytest

from stageline.config.loader import load_pipeline
from stageline.data.fingerprints import Fingerprints, fingerprint_path
from stageline.data.key import KEY_VARIABLE
from stageline.data.masking import MaskingKey
from stageline.data.rules import ColumnRule
from stageline.gates.pii_scan import PiiScanGate, PiiScanOptions
from stageline.gates.registry import get_gate
from stageline.usecases.gating import gate_views
from stageline.usecases.pipeline import Session
from tests.data import fixture
from tests.data.conftest import KEY, Snapshotter, snapshot, source  # noqa: F401
from tests.gates.conftest import MakeContext

PIPELINE = """
[service]
name = "shop"
start = "true"

[environments.staging]
tier = "staging"
url = "http://127.0.0.1:18603"
target = {{ kind = "local", port = 18603 }}
vars = {{ LOG_LEVEL = "info", REPORTS_DB = "{staging_extra}" }}
services.postgres = {{ provider = "external", url = "{staging}" }}

[environments.production]
tier = "production"
url = "http://127.0.0.1:18604"
target = {{ kind = "local", port = 18604 }}
secrets = ["PAYMENT_API_KEY"]
services.postgres = {{ provider = "external", url = "{production}" }}
"""
PAYMENT_KEY = "sk_live_pii_gate_51f0"


def _run(
    tmp_path: Path,
    make_context: MakeContext,
    production: str,
    staging: str,
    *,
    staging_extra: str = "none",
    staging_vars: dict[str, str] | None = None,
    options: PiiScanOptions | None = None,
) -> tuple[str, str, dict[str, object]]:
    root = tmp_path / "repo"
    root.mkdir(exist_ok=True)
    (root / "stageline.toml").write_text(
        PIPELINE.format(staging=staging, production=production, staging_extra=staging_extra)
    )
    env = load_pipeline(root).environment("staging")
    evidence = root / ".stageline" / "envs" / "staging" / "evidence" / "20260101" / "pii"
    evidence.mkdir(parents=True, exist_ok=True)
    with Session.open(root) as session:
        ctx = make_context(
            environment=env,
            evidence_dir=evidence,
            root=root,
            home=root / ".stageline",
            variables={"DATABASE_URL": staging, **(staging_vars or {})},
            deadline=time.monotonic() + 120,
            views=gate_views(session),
        )
        result = PiiScanGate().run(ctx, options or PiiScanOptions())
    return result.status, result.summary, result.evidence


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_VARIABLE, KEY.raw.decode())
    monkeypatch.setenv("STAGELINE_SECRET_PRODUCTION_PAYMENT_API_KEY", PAYMENT_KEY)


def test_gate_passes_on_a_clean_snapshot_and_fails_on_planted_values(
    tmp_path: Path,
    make_context: MakeContext,
    source: tuple[str, fixture.Fixture],  # noqa: F811
    snapshot: Snapshotter,  # noqa: F811
) -> None:
    production, fx = source
    staging, result = snapshot(production)
    home = tmp_path / "repo" / ".stageline"
    result.fingerprints.write(fingerprint_path(home, "snap_1"))
    other = MaskingKey(b"a-key-from-another-time-123")
    Fingerprints.from_set(other, {1, 2, 3}).write(fingerprint_path(home, "snap_0"))
    status, summary, evidence = _run(tmp_path, make_context, production, staging)
    assert status == "passed", summary
    assert evidence["fingerprints"] == len(result.fingerprints)
    assert evidence["snapshots_other_key"] == ["snap_0"]

    with psycopg.connect(staging) as conn:
        conn.execute("UPDATE orders SET note = %s WHERE id = 1", (fx.emails[0],))
        conn.execute(
            "UPDATE users SET profile = jsonb_build_object('contact', %s::text) WHERE id < 4",
            (fx.emails[1],),
        )
        conn.execute("CREATE TABLE exports (line text)")
        conn.execute("INSERT INTO exports VALUES (%s)", (fx.phones[2],))
    status, summary, evidence = _run(tmp_path, make_context, production, staging)
    assert status == "failed"
    assert evidence["findings"] == [
        {"table": "exports", "column": "line", "count": 1},
        {"table": "orders", "column": "note", "count": 1},
        {"table": "users", "column": "profile", "count": 3},
    ]
    assert "orders.note (1)" in summary and fx.emails[0] not in summary
    assert fx.emails[1] not in str(evidence)


def test_gate_fails_on_production_secret_or_database_in_configuration(
    tmp_path: Path,
    make_context: MakeContext,
    source: tuple[str, fixture.Fixture],  # noqa: F811
    snapshot: Snapshotter,  # noqa: F811
) -> None:
    production, _ = source
    staging, result = snapshot(production)
    result.fingerprints.write(fingerprint_path(tmp_path / "repo" / ".stageline", "snap_1"))
    status, summary, evidence = _run(
        tmp_path,
        make_context,
        production,
        staging,
        staging_extra=production,
        staging_vars={"PAYMENT_TOKEN": PAYMENT_KEY},
    )
    assert status == "failed"
    assert evidence["config_leaks"] == [
        "variable PAYMENT_TOKEN holds production's secret PAYMENT_API_KEY"
    ]
    # REPORTS_DB is in the pipeline file, not in the variables handed to this context:
    status, summary, evidence = _run(
        tmp_path, make_context, production, staging, staging_vars={"REPORTS_DB": production}
    )
    assert status == "failed"
    assert evidence["config_leaks"] == ["variable REPORTS_DB holds production's DATABASE_URL"]
    assert PAYMENT_KEY not in summary and production not in summary


def test_gate_without_fingerprints_cannot_judge(
    tmp_path: Path,
    make_context: MakeContext,
    source: tuple[str, fixture.Fixture],  # noqa: F811
) -> None:
    production, _ = source
    staging = production.rsplit("/", 1)[0] + "/postgres"
    status, summary, _ = _run(tmp_path, make_context, production, staging)
    assert status == "error" and "take a snapshot first" in summary


def test_pii_scan_is_a_builtin_kind_with_strict_options() -> None:
    gate = get_gate("pii-scan")
    assert isinstance(gate, PiiScanGate)
    with pytest.raises(ValueError, match="extra"):
        gate.Options.model_validate({"tables": ["x"]})
    assert gate.Options().require_snapshot is True  # the safe default docs/snapshots.md states
    for bad in (
        {"class": "ip", "value": "127.0.0.1"},  # no reason
        {"class": "ip", "value": "localhost", "reason": "smoke"},
        {"class": "email", "value": "nobody", "reason": "smoke"},
        {"value": "curl/8.5.0", "reason": "smoke"},
        {"column": "user_agent", "reason": "no table"},
        {"column": "requests.user_agent", "class": "text", "value": "x", "reason": "both"},
    ):
        with pytest.raises(ValueError):
            gate.Options.model_validate({"allow": [bad]})


REQUESTS = """
CREATE TABLE requests (id serial PRIMARY KEY, client_ip inet, user_agent text, path text);
INSERT INTO requests (client_ip, user_agent, path) VALUES
  ('127.0.0.1', 'curl/8.5.0', '/healthz'),
  ('192.0.2.77', 'Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0', '/account'),
  ('198.51.100.23', 'Mozilla/5.0 (Macintosh) Safari/605.1.15', '/orders/7');
"""
# what staging's own smoke step leaves in its request log: the same host, the same curl
SMOKE_REQUEST = (
    "INSERT INTO requests (client_ip, user_agent, path) VALUES ('127.0.0.1', 'curl/8.5.0', '/')"
)


def test_allow_list_lets_staging_hold_its_own_smoke_request_and_reports_it(
    tmp_path: Path,
    make_context: MakeContext,
    source: tuple[str, fixture.Fixture],  # noqa: F811
    snapshot: Snapshotter,  # noqa: F811
) -> None:
    """A request from 127.0.0.1 with a curl user agent is in production's log and, after a
    smoke step, in staging's: without an allow-list it holds the release for good."""
    production, _ = source
    with psycopg.connect(production) as conn:
        conn.execute(REQUESTS)
    rules = fixture.rules().model_copy(
        update={
            "tables": {
                **fixture.rules().tables,
                "requests": {
                    name: ColumnRule.model_validate(mask)
                    for name, mask in (
                        ("id", "keep"), ("client_ip", "ip"), ("user_agent", "text"),
                        ("path", "keep"),
                    )
                },
            }
        }
    )  # fmt: skip
    staging, result = snapshot(production, rules)
    result.fingerprints.write(fingerprint_path(tmp_path / "repo" / ".stageline", "snap_1"))
    with psycopg.connect(staging) as conn:
        conn.execute(SMOKE_REQUEST)

    status, summary, evidence = _run(tmp_path, make_context, production, staging)
    assert status == "failed"
    assert evidence["findings"] == [
        {"table": "requests", "column": "client_ip", "count": 1},
        {"table": "requests", "column": "user_agent", "count": 1},
    ]
    allow = PiiScanOptions.model_validate(
        {
            "allow": [
                {"class": "ip", "value": "127.0.0.1", "reason": "staging's smoke requests"},
                {"column": "requests.user_agent", "reason": "client software, not people"},
            ]
        }
    )
    status, summary, evidence = _run(tmp_path, make_context, production, staging, options=allow)
    assert status == "passed", summary
    assert evidence["findings"] == []
    assert evidence["allowed"] == [
        {
            "table": "requests",
            "column": "user_agent",
            "count": 1,
            "by": ["column requests.user_agent: client software, not people"],
        },
        {
            "table": "requests",
            "column": "client_ip",
            "count": 1,
            "by": ["ip 127.0.0.1: staging's smoke requests"],
        },
    ]
    assert "allowed: requests.user_agent (1), requests.client_ip (1)" in summary

    # a production user's address in the same column is still a finding
    with psycopg.connect(staging) as conn:
        conn.execute("INSERT INTO requests (client_ip, path) VALUES ('192.0.2.77', '/')")
    status, summary, evidence = _run(tmp_path, make_context, production, staging, options=allow)
    assert status == "failed"
    assert evidence["findings"] == [{"table": "requests", "column": "client_ip", "count": 1}]
    assert {(a["column"], a["count"]) for a in evidence["allowed"]} == {  # type: ignore[attr-defined]
        ("user_agent", 1),
        ("client_ip", 1),
    }
    assert "requests.client_ip (1)" in summary and "192.0.2.77" not in summary
