"""`stageline snapshot plan --write` on a real PostgreSQL schema (the realistic fixture):
the drafted rules classify every column, mask the personal ones when a snapshot is
taken under them, and no sampled value reaches the file or the output."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import psycopg
import pytest

from stageline.cli import main
from stageline.config.loader import load_pipeline
from stageline.data.rules import ColumnRule
from tests.data import fixture
from tests.data.conftest import Snapshotter, snapshot, source  # noqa: F401

PIPELINE = """\
[service]
name = "shop"
start = "true"

[environments.staging]
tier = "staging"
url = "http://127.0.0.1:18611"
target = {{ kind = "local", port = 18611 }}

[environments.production]
tier = "production"
url = "http://127.0.0.1:18612"
target = {{ kind = "local", port = 18612 }}
services.postgres = {{ provider = "external", url = "{production}" }}

[data]
keep = 2
"""


def _cli(capsys: pytest.CaptureFixture[str], root: Path, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    with pytest.raises(SystemExit) as ended:
        main([*args, "-C", str(root)])
    captured = capsys.readouterr()
    return int(ended.value.code or 0), captured.out, captured.err


def _everything(url: str) -> str:
    with psycopg.connect(url) as conn:
        tables = [r[0] for r in conn.execute("SELECT tablename FROM pg_tables "
                                             "WHERE schemaname = 'public'")]  # fmt: skip
        rows = [
            str(row[0])
            for table in tables
            for row in conn.execute(f'SELECT t::text FROM "{table}" t')
        ]
    return "\n".join(rows)


def test_drafted_rules_classify_every_column_and_mask_the_personal_ones(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    source: tuple[str, fixture.Fixture],  # noqa: F811
    snapshot: Snapshotter,  # noqa: F811
) -> None:
    production, fx = source
    root = tmp_path / "repo"
    root.mkdir()
    pipeline = root / "stageline.toml"
    pipeline.write_text(PIPELINE.format(production=production))

    code, out, err = _cli(capsys, root, "snapshot", "plan", "production", "--write")
    assert code == 0, err
    text = pipeline.read_text()
    assert text.startswith(PIPELINE.format(production=production))  # nothing changed
    assert "# Drafted by `stageline snapshot plan production --write`" in text
    leaked = [v for v in fx.all_values() if v in text or v in out or v in err]
    assert leaked == []
    rules = load_pipeline(root).data
    assert rules.keep == 2
    masks = {
        (table, column): rules.rule(table, column).mask  # type: ignore[union-attr]
        for table, column in [
            ("users", "email"), ("users", "full_name"), ("users", "phone"),
            ("users", "last_ip"), ("users", "profile"), ("users", "born"), ("users", "id"),
            ("addresses", "street"), ("addresses", "city"), ("orders", "customer_email"),
            ("orders", "note"), ("orders", "user_id"), ("sessions", "token"),
            ("products", "title"),
        ]
    }  # fmt: skip
    assert masks == {
        ("users", "email"): "email", ("users", "full_name"): "name",
        ("users", "phone"): "phone", ("users", "last_ip"): "ip", ("users", "profile"): "json",
        ("users", "born"): "date", ("users", "id"): "keep", ("addresses", "street"): "address",
        ("addresses", "city"): "redact", ("orders", "customer_email"): "email",
        ("orders", "note"): "text", ("orders", "user_id"): "keep",
        ("sessions", "token"): "hash", ("products", "title"): "keep",
    }  # fmt: skip
    assert rules.table_defaults == {"products": ColumnRule(mask="keep")}

    taken, _ = snapshot(production, rules=rules)
    everything = _everything(taken)
    assert [v for v in fx.all_values() if v in everything] == []

    # everything is covered now: nothing more to draft
    code, out, _ = _cli(capsys, root, "snapshot", "plan", "production", "--write", "--json")
    assert code == 0 and pipeline.read_text() == text
    assert json.loads(out)["drafted"] == {"file": str(pipeline.resolve()), "columns": 0}
    assert {c["rule"] for t in json.loads(out)["tables"] for c in t["columns"]} >= {
        "data.tables.users.full_name",
        'data.patterns."*email*"',
        "data.table_defaults.products",
    }

    # a column added later: refused onto hand-written rules, unless --force adds its line
    with psycopg.connect(production) as conn:
        conn.execute("ALTER TABLE users ADD COLUMN passport_no text")
    code, _, err = _cli(capsys, root, "snapshot", "plan", "production", "--write")
    assert code == 1 and "has masking rules already" in err and "--force" in err
    assert pipeline.read_text() == text
    code, _, err = _cli(capsys, root, "snapshot", "plan", "production", "--write", "--force")
    assert code == 0, err
    grown = pipeline.read_text()
    assert all(line in grown.splitlines() for line in text.splitlines())
    users = tomllib.loads(grown)["data"]["tables"]["users"]
    assert users["passport_no"] == "hash"  # all NULL so far: its name decides
    assert 'passport_no = "hash"  # named like an identity or account number' in grown
