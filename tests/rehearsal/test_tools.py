"""The migration tools' command lines: a database password never appears on them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from stageline.gates.base import ProcessOutcome
from stageline.rehearsal.tools import SqlFiles

URL = "postgresql://ana:s3cret-pw@127.0.0.1:5999/rehearse"


def test_psql_gets_the_password_in_its_environment_not_its_arguments(tmp_path: Path) -> None:
    seen: list[tuple[list[str], dict[str, str]]] = []

    def record(argv: Sequence[str], cwd: Path, env: Mapping[str, str]) -> ProcessOutcome:
        seen.append((list(argv), dict(env)))
        return ProcessOutcome(0, "")

    migrator = SqlFiles(
        run=record, cwd=tmp_path, env={"KEEP": "1"}, psql="psql",
        upgrade_files=["one.sql", "two.sql"], downgrade_files=["down.sql"],
    )  # fmt: skip
    assert migrator.upgrade(URL, "upgrade").ok
    assert migrator.downgrade(URL, "before", "downgrade").ok
    assert [argv[-1] for argv, _ in seen] == ["one.sql", "two.sql", "down.sql"]
    for argv, env in seen:
        assert not any("s3cret-pw" in arg for arg in argv), argv
        conninfo = argv[argv.index("-d") + 1]
        assert "host=127.0.0.1" in conninfo and "dbname=rehearse" in conninfo
        assert env["PGPASSWORD"] == "s3cret-pw" and env["KEEP"] == "1"
