"""Schema-aware rollback with the real example service, real PostgreSQL, real processes.

Two more releases of the shop are built once for the module, on top of the demo's tags:

- ``v1.7.1``: the same schema as ``v1.7.0-rc1`` (``0002_order_notes``), but the service
  migrates itself at start (``alembic upgrade head && exec uvicorn ...``);
- ``v1.8.0``: adds ``orders.channel`` NOT NULL without a database default (the model
  fills it), so the older code's inserts fail on the newer schema.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from stageline.targets.backing import postgres_facts
from stageline.usecases import pipeline
from stageline.usecases.pipeline import Session
from tests.e2e.helpers import cli, commit_and_tag, own_tmp, workspace_copy

pytestmark = pytest.mark.slow
PLAIN, SELF_MIGRATING, NOT_NULL = "v1.7.0-rc1", "v1.7.1", "v1.8.0"
START = "uvicorn shop.app:app --host {host} --port {port}"

CHANNEL_MIGRATION = '''"""orders.channel: NOT NULL, no database default (the model fills it)

Revision ID: 0003_order_channel
Revises: 0002_order_notes
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_order_channel"
down_revision = "0002_order_notes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "orders",
        sa.Column("channel", sa.String(20), nullable=False, server_default="web"),
    )
    op.alter_column("orders", "channel", server_default=None)


def downgrade() -> None:
    op.drop_column("orders", "channel")
'''


@pytest.fixture(scope="module")
def schema_template(shop_template: Path) -> Iterator[Path]:
    folder = own_tmp("stageline-schema-")
    repo = folder / "shop"
    shutil.copytree(shop_template, repo, symlinks=True)
    commit_and_tag(
        repo,
        SELF_MIGRATING,
        {
            "stageline.toml": (
                f'start = "{START}"',
                f"start = \"sh -c 'alembic upgrade head && exec {START}'\"",
            ),
            "pyproject.toml": ('version = "1.7.0rc1"', 'version = "1.7.1"'),
        },
    )
    (repo / "migrations" / "versions" / "0003_order_channel.py").write_text(CHANNEL_MIGRATION)
    commit_and_tag(
        repo,
        NOT_NULL,
        {
            "src/shop/models.py": (
                "    total_cents: Mapped[int]\n",
                "    total_cents: Mapped[int]\n"
                '    channel: Mapped[str] = mapped_column(String(20), default="web")\n',
            ),
            "pyproject.toml": ('version = "1.7.1"', 'version = "1.8.0"'),
        },
    )
    with Session.open(repo) as session:
        for tag in (SELF_MIGRATING, NOT_NULL):
            pipeline.build(session, tag)
    yield repo
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def repo(schema_template: Path) -> Iterator[Path]:
    with workspace_copy(schema_template, "stageline-rollback-") as copy:
        yield copy


def deploy(repo: Path, tag: str) -> None:
    done = cli(repo, "deploy", "development", tag)
    assert done.returncode == 0, done.stdout + done.stderr


def development(repo: Path) -> tuple[str, str]:
    """(service URL, database URL) of the development environment."""
    with Session.open(repo) as session:
        env = session.pipeline().environment("development")
        facts = postgres_facts(session.workspace.home, env, "shop")
    assert facts is not None and facts.port
    return env.url, facts.url


def serving(url: str) -> str:
    answer = httpx.get(f"{url}/healthz", timeout=10, trust_env=False)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["version"])


def revision(database: str) -> str:
    with psycopg.connect(database, autocommit=True) as conn:
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    assert row is not None
    return str(row[0])


def place_order(url: str) -> httpx.Response:
    sku = httpx.get(f"{url}/products", timeout=10, trust_env=False).json()[0]["sku"]
    return httpx.post(
        f"{url}/orders",
        timeout=10,
        trust_env=False,
        json={"customer_email": "rollback@example.com", "lines": [{"sku": sku, "quantity": 1}]},
    )


def events(repo: Path) -> list[str]:
    with Session.open(repo) as session:
        return [e.kind for e in session.store.events("development")]


def test_rollback_across_a_not_null_column_is_refused_then_migrated(repo: Path) -> None:
    deploy(repo, PLAIN)
    deploy(repo, NOT_NULL)
    url, database = development(repo)
    assert serving(url) == "1.8.0" and revision(database) == "0003_order_channel"

    refused = cli(repo, "rollback", "development")
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "0003_order_channel" in refused.stderr and "0002_order_notes" in refused.stderr
    assert "--migrate" in refused.stderr and "--keep-schema" in refused.stderr
    assert serving(url) == "1.8.0" and revision(database) == "0003_order_channel"
    assert "rollback.refused" in events(repo)

    shown = cli(repo, "rollback", "development", "--dry-run")
    assert shown.returncode == 0, shown.stderr
    assert "refused" in shown.stdout and "--keep-schema" in shown.stdout
    planned = cli(repo, "rollback", "development", "--migrate", "--dry-run", "--json")
    assert planned.returncode == 0, planned.stderr
    plan = json.loads(planned.stdout)
    assert plan["schema"]["database"] == "0003_order_channel"
    assert plan["schema"]["expected"] == "0002_order_notes"
    assert plan["schema"]["action"] == "migrate" and plan["allowed"]
    assert any("`alembic downgrade 0002_order_notes`" in step for step in plan["steps"])
    assert revision(database) == "0003_order_channel"

    migrated = cli(repo, "rollback", "development", "--migrate")
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    assert serving(url) == "1.7.0rc1"
    assert revision(database) == "0002_order_notes"
    order = place_order(url)
    assert order.status_code == 201, order.text
    assert "rollback.migrate" in events(repo)


def test_keep_schema_runs_the_old_code_on_the_new_schema_and_is_audited(repo: Path) -> None:
    deploy(repo, PLAIN)
    deploy(repo, NOT_NULL)
    url, database = development(repo)

    kept = cli(repo, "rollback", "development", "--keep-schema")
    assert kept.returncode == 0, kept.stdout + kept.stderr
    assert serving(url) == "1.7.0rc1" and revision(database) == "0003_order_channel"
    # what the refusal protects against: the old code cannot write to the new schema
    assert place_order(url).status_code == 500
    with Session.open(repo) as session:
        found = [e for e in session.store.events("development") if e.kind == "rollback.keep_schema"]
    assert len(found) == 1
    assert found[0].data["database"] == "0003_order_channel"
    assert found[0].data["expected"] == "0002_order_notes"


def test_equal_revisions_roll_back_as_before(repo: Path) -> None:
    deploy(repo, PLAIN)
    deploy(repo, SELF_MIGRATING)
    url, database = development(repo)
    assert serving(url) == "1.7.1" and revision(database) == "0002_order_notes"

    shown = cli(repo, "rollback", "development", "--dry-run", "--json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["schema"]["verdict"] == "same"

    rolled = cli(repo, "rollback", "development")
    assert rolled.returncode == 0, rolled.stdout + rolled.stderr
    assert serving(url) == "1.7.0rc1" and revision(database) == "0002_order_notes"
    assert place_order(url).status_code == 201


def test_a_self_migrating_release_is_refused_at_once_and_fails_fast(repo: Path) -> None:
    pipeline_file = repo / "stageline.toml"
    pipeline_file.write_text(
        pipeline_file.read_text().replace("[defaults]\n", "[defaults]\nhealth_timeout = 120\n", 1)
    )
    deploy(repo, SELF_MIGRATING)
    deploy(repo, NOT_NULL)
    url, database = development(repo)

    started = time.monotonic()
    refused = cli(repo, "rollback", "development")
    assert time.monotonic() - started < 30
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "migrates itself at start" in refused.stderr
    assert "0003_order_channel" in refused.stderr and "0002_order_notes" in refused.stderr

    # forced onto the newer schema, the older release dies at start: reported at once
    started = time.monotonic()
    died = cli(repo, "rollback", "development", "--keep-schema")
    elapsed = time.monotonic() - started
    assert died.returncode == 3, died.stdout + died.stderr
    assert elapsed < 60, f"took {elapsed:.0f}s: the switch waited for the health timeout"
    assert "Can't locate revision" in died.stderr
    assert serving(url) == "1.8.0" and revision(database) == "0003_order_channel"
