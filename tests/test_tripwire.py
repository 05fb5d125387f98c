"""The tripwire: its message (pure), the marks it compares, and real sessions on a real
server told apart: the gate's (by role, application name, process) from the service's."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator

import psycopg
import pytest

from stageline.rehearsal.fingerprint import schema_fingerprint
from stageline.rehearsal.tripwire import (
    Contact,
    LiveMarks,
    Tripwire,
    live_marks,
    marks_diff,
    verdict,
)
from stageline.services.postgres import PostgresServer

CONTACT = Contact(4242, "stageline", "stageline-migration", "127.0.0.1:50000",
                  "application name stageline-migration, set for the gate's processes")  # fmt: skip


def test_untouched_is_no_verdict() -> None:
    assert verdict([], [], ["POSTGRES_DB"], what="the migration", database="shop",
                   environment="staging") is None  # fmt: skip


def test_contact_names_the_suspects_and_the_fix() -> None:
    message = verdict(
        [CONTACT, CONTACT], [], ["POSTGRES_DB", "POSTGRES_USER"], what="the migration",
        database="shop", environment="staging",
    )  # fmt: skip
    assert message is not None
    assert message.startswith("the migration reached the live database shop: a session as "
                              "stageline from 127.0.0.1:50000")  # fmt: skip
    assert "and 1 more" in message
    assert "it likely read POSTGRES_DB, POSTGRES_USER" in message
    assert "interpolate them from ${postgres.*} in [environments.staging.vars]" in message


def test_changes_without_suspects_point_at_the_tool_configuration() -> None:
    message = verdict([], ["alembic_version changed"], [], what="the test suite",
                      database="shop", environment="staging")  # fmt: skip
    assert message is not None
    assert message.startswith("the test suite reached the live database shop: it changed: "
                              "alembic_version changed")  # fmt: skip
    assert "alembic.ini's sqlalchemy.url" in message


def test_marks_diff() -> None:
    before = LiveMarks({"column": {"public.t.a": "#1 int null"}}, {"alembic_version": ["('1',)"]})
    after = LiveMarks(
        {"column": {"public.t.a": "#1 int not null"}}, {"alembic_version": ["('2',)"]}
    )
    assert marks_diff(before, before) == []
    changes = marks_diff(before, after)
    assert changes[0].startswith("column public.t.a changed")
    assert changes[1] == "alembic_version changed"


@pytest.fixture
def live(postgres_server: PostgresServer) -> Iterator[str]:
    name = f"live_{uuid.uuid4().hex[:10]}"
    postgres_server.create_database(name)
    try:
        yield name
    finally:
        postgres_server.drop_database(name)


def test_live_marks_read_schema_and_bookkeeping(postgres_server: PostgresServer, live: str) -> None:
    url = postgres_server.url(live)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE alembic_version (version_num text)")
        conn.execute("INSERT INTO alembic_version VALUES ('0001')")
        expected = schema_fingerprint(conn)
    marks = live_marks(url)
    assert marks.schema == expected
    assert marks.bookkeeping == {"alembic_version": ["('0001',)"]}


def _wait(wire: Tripwire, count: int) -> None:
    deadline = time.monotonic() + 10
    while len(wire.contacts) < count and time.monotonic() < deadline:
        time.sleep(0.02)


def test_sessions_of_the_gate_are_caught_and_the_service_is_not(
    postgres_server: PostgresServer, live: str
) -> None:
    url = postgres_server.url(live)
    child: subprocess.Popen[bytes] | None = None
    groups: set[int] = set()
    wire = Tripwire(postgres_server.url("postgres"), live, roles={"nobody_else"},
                    applications={"stageline-migration"}, pids=lambda: set(groups))  # fmt: skip
    script = (
        "import psycopg, sys, time\n"
        f"c = psycopg.connect({url!r})\n"
        "print('ok', flush=True)\n"
        "time.sleep(30)\n"
    )
    try:
        # the service: connected before the gate, and once more while it runs
        with psycopg.connect(url), wire, psycopg.connect(url):
            with psycopg.connect(url, application_name="stageline-migration"):
                _wait(wire, 1)
            child = subprocess.Popen(
                [sys.executable, "-c", script], stdout=subprocess.PIPE, start_new_session=True
            )
            assert child.stdout is not None and child.stdout.readline() == b"ok\n"
            groups.add(child.pid)
            _wait(wire, 2)
    finally:
        if child is not None:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
    assert wire.error == ""
    whys = [contact.why for contact in wire.contacts]
    assert whys == [
        "application name stageline-migration, set for the gate's processes",
        f"its client is process {child.pid} of the gate",
    ], whys
