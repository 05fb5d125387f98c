"""Text is data: what people, the store and services supply is printed, never read as markup.

The red team's reproduction: a rejection note holding ``[/bold]`` made ``status`` exit 3,
and since the note stays in the append-only audit log, ``audit`` stayed broken for good;
a ref with markup crashed ``deploy``/``build`` before they said what was wrong; masked
secrets (``[secret:NAME]``) vanished from ``env`` as an unknown style. Each command here
runs as a real process on a seeded workspace (SQLite store, nothing running) with hostile
text in every place a command prints from, and must print that text literally.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from rich.table import Table

from stageline.cli import output
from stageline.redact import mask_for
from stageline.usecases import secrets, tokens
from stageline.usecases.pipeline import Session
from tests.web.seed import ANA, BEN, Seeded, add_artifact, seed

#: markup that crashes Rich (a closing tag with nothing open), markup that would style,
#: a link, and something shaped like a mask; all must come out as typed
HOSTILE = "[/bold] [red]not red[/red] [link=http://x]y[/link] [b]"
#: what production's secret is set to; only its mask may be printed
PAYMENT_KEY = "sk_hostile_env_4b1d7e"


def stageline(
    root: Path, *args: str, user: str = ANA, secret: bool = False
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "STAGELINE_USER": user, "COLUMNS": "2000", "NO_COLOR": "1"}
    if secret:
        env["STAGELINE_SECRET_PRODUCTION_PAYMENT_API_KEY"] = PAYMENT_KEY
    return subprocess.run(
        [sys.executable, "-m", "stageline", *args, "-C", str(root)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Seeded:
    """The seeded shop with HOSTILE in a rejection (given through the CLI), a failed
    deployment's detail, an artifact's tag, a token's name, a secret reference and a
    production variable; a git repository without the ref."""
    seeded = seed(tmp_path_factory.mktemp("hostile"))
    subprocess.run(["git", "init", "-q", str(seeded.root)], check=True)  # `build` looks up refs
    pipeline_file = seeded.root / "stageline.toml"
    text = pipeline_file.read_text()
    marked = text.replace(
        'vars = { LOG_LEVEL = "info", PAYMENT_URL',
        f'vars = {{ LOG_LEVEL = "{HOSTILE}", PAYMENT_URL',
    )
    assert marked != text
    pipeline_file.write_text(marked)
    ok(stageline(seeded.root, "reject", "staging", "--reason", HOSTILE, user=BEN))
    with Session.open(seeded.root) as session:
        store = session.store
        tokens.create_token(store, HOSTILE, ANA)
        secrets.set_secret(session, "staging", "ELSEWHERE", reference=f"file:/{HOSTILE}")
        add_artifact(store, f"v9.9.9-{HOSTILE}", datetime.now(UTC))
        started = store.start_deployment("development", seeded.new, actor=ANA, kind="deploy")
        store.finish_deployment(started.id, "failed", detail=HOSTILE)
    return seeded


@pytest.mark.parametrize(
    "args",
    [
        ("status",),
        ("audit",),
        ("audit", "staging"),
        ("history",),
        ("artifacts",),
        ("tokens", "list", "--all"),
        ("secrets", "list", "staging"),
    ],
    ids=" ".join,
)
def test_every_report_prints_hostile_text_literally(hostile: Seeded, args: tuple[str, ...]) -> None:
    printed = ok(stageline(hostile.root, *args))
    assert HOSTILE in printed


def test_naming_things_with_hostile_text_is_confirmed_literally(tmp_path: Path) -> None:
    seeded = seed(tmp_path)
    made = ok(stageline(seeded.root, "tokens", "create", HOSTILE))
    assert HOSTILE in made
    stored = ok(
        stageline(
            seeded.root, "secrets", "set", "staging", "ELSEWHERE", "--ref", f"file:/{HOSTILE}"
        )
    )
    assert HOSTILE in stored
    assert HOSTILE in ok(stageline(seeded.root, "secrets", "list", "staging"))


def test_env_shows_a_hostile_value_and_never_the_secret(hostile: Seeded) -> None:
    printed = ok(stageline(hostile.root, "env", "production", secret=True))
    assert HOSTILE in printed
    assert PAYMENT_KEY not in printed and "****" in printed


def test_the_roles_print_text_and_masks_literally(capsys: pytest.CaptureFixture[str]) -> None:
    """Every way the CLI prints (the roles, a table row, a free line, a progress step)
    keeps markup-shaped text and a secret's mask as they are."""
    masked = f"[/bold][red]x[/red] {mask_for('API_KEY')}"  # short: no line wraps
    output.step(masked)
    output.success(masked)
    output.warning(masked)
    output.error_line(masked, masked)
    output.line(masked)
    table = Table("text")
    output.add_row(table, masked)
    output.out.print(table)
    output.out.print(f"[bold]{output.safe(masked)}[/]")
    with output.progress(masked) as report:
        report(masked)
    printed = capsys.readouterr()  # the spinner is not drawn off a terminal, only built
    assert (printed.out + printed.err).count(masked) == 9


@pytest.mark.parametrize(
    "args",
    [
        ("deploy", "staging", HOSTILE, "--dry-run"),
        ("promote", HOSTILE, "--dry-run"),
        ("build", HOSTILE),
        ("rollback", "staging", "--to", HOSTILE, "--dry-run"),
    ],
    ids=lambda args: args[0],
)
def test_a_hostile_ref_or_name_is_named_in_a_clean_error(
    hostile: Seeded, args: tuple[str, ...]
) -> None:
    result = stageline(hostile.root, *args)
    assert result.returncode in (1, 2, 3), result.stdout + result.stderr
    assert "unexpected" not in result.stderr, result.stderr
    assert result.stderr.startswith("error: "), result.stderr
    assert HOSTILE in result.stderr
