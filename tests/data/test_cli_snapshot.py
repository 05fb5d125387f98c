"""`stageline snapshot ...` through the CLI, on the shop example's pipeline with real
per-environment PostgreSQL servers (production's filled with the realistic fixture)."""

from __future__ import annotations

import json
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from stageline.cli import main
from stageline.targets.backing import ensure_postgres
from stageline.usecases.pipeline import Session
from tests.data import fixture
from tests.e2e.helpers import cli, own_tmp, stop_everything, use_free_ports

SHOP = Path(__file__).parents[2] / "examples" / "shop" / "stageline.toml"


def _data_table(keep: int) -> str:
    lines = [f"\n[data]\nkeep = {keep}\nschema_only = {json.dumps(fixture.RULES['schema_only'])}"]
    for table, columns in fixture.RULES["tables"].items():
        lines.append(f"\n[data.tables.{table}]")
        for column, rule in columns.items():
            if isinstance(rule, str):
                lines.append(f'{column} = "{rule}"')
            else:
                inner = ", ".join(
                    f"{k} = {json.dumps(v) if not isinstance(v, dict) else _inline(v)}"
                    for k, v in rule.items()
                )
                lines.append(f"{column} = {{ {inner} }}")
    return "\n".join(lines) + "\n"


def _inline(table: dict[str, str]) -> str:
    return "{ " + ", ".join(f"{k} = {json.dumps(v)}" for k, v in table.items()) + " }"


@pytest.fixture
def repo() -> Iterator[Path]:
    folder = own_tmp("stageline-snap-")
    root = folder / "shop"
    root.mkdir()
    shutil.copy(SHOP, root / "stageline.toml")
    use_free_ports(root / "stageline.toml")
    with (root / "stageline.toml").open("a") as fh:
        fh.write(_data_table(keep=1))
    try:
        yield root
    finally:
        stop_everything(root)
        shutil.rmtree(folder, ignore_errors=True)


def _url(root: Path, environment: str) -> str:
    with Session.open(root) as session:
        pipe = session.pipeline()
        facts = ensure_postgres(session.workspace.home, pipe.environment(environment), "shop")
    assert facts is not None
    return facts.url


def _ok(root: Path, *args: str) -> Any:
    done = cli(root, *args)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _in_process(capsys: pytest.CaptureFixture[str], root: Path, *args: str) -> tuple[int, str]:
    """The CLI's entry point in this process (no interpreter start-up): exit code, stdout."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as ended:
        main([*args, "-C", str(root)])
    return int(ended.value.code or 0), capsys.readouterr().out


def test_snapshot_take_list_restore_drop_through_the_cli(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    production = _url(repo, "production")
    fx = fixture.populate(production, users=60)

    code, out = _in_process(capsys, repo, "snapshot", "plan", "production", "--json")
    assert code == 0 and json.loads(out)["problems"] == []

    first = _ok(repo, "snapshot", "take", "production", "--json")
    assert first["environment"] == "staging" and first["source"] == "production"
    counts = first["row_counts"]
    assert counts["users"] == counts["addresses"] == 60 and counts["sessions"] == 0
    key = repo / ".stageline" / "keys" / "masking.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert (repo / ".stageline" / "snapshots" / first["name"] / "fingerprints.bin").is_file()

    staging = _url(repo, "staging")
    admin = staging.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin) as conn:
        row = conn.execute(
            "SELECT datistemplate, datallowconn FROM pg_database WHERE datname = %s",
            (first["name"],),
        ).fetchone()
    assert row == (True, False)

    # restore refuses while the environment's database is in use, then clones
    with psycopg.connect(staging):
        refused = cli(repo, "snapshot", "restore", "staging")
    assert refused.returncode == 1 and "stageline down staging" in refused.stderr
    restored = _ok(repo, "snapshot", "restore", "staging", "--json")
    assert restored["snapshot"] == first["name"] and restored["database"] == "shop"
    with psycopg.connect(staging) as conn:
        rows = conn.execute("SELECT u::text FROM users u").fetchall()
    assert len(rows) == 60
    everything = "\n".join(r[0] for r in rows)
    assert [v for v in fx.all_values() if v in everything] == []

    # keep = 1: a second snapshot drops the first
    code, out = _in_process(capsys, repo, "snapshot", "take", "production", "--json")
    second = json.loads(out)
    assert code == 0 and second["dropped"] == [first["name"]]
    code, out = _in_process(capsys, repo, "snapshot", "list", "--json")
    assert [s["name"] for s in json.loads(out)] == [second["name"]]

    # a column added later stops the snapshot, naming it
    with psycopg.connect(production) as conn:
        conn.execute("ALTER TABLE users ADD COLUMN passport_no text")
    stopped = cli(repo, "snapshot", "take", "production")
    assert stopped.returncode == 1
    assert "users.passport_no: not classified" in stopped.stderr
    assert "data.tables.users table" in stopped.stderr

    code, _ = _in_process(capsys, repo, "snapshot", "drop", second["name"])
    assert code == 0
    assert _in_process(capsys, repo, "snapshot", "list", "--json") == (0, "[]\n")
    with psycopg.connect(admin) as conn:
        left = conn.execute("SELECT datname FROM pg_database WHERE datname LIKE 'snap_%'")
        assert left.fetchall() == []
