"""The comparison, on facts probed from real environments (tests/parity/data)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from stageline.config.model import ParityAllow
from stageline.parity.compare import LAYERS, Allowed, Report, Row, allow_list, compare
from stageline.parity.facts import BackingFacts, Facts, OsFacts, PythonFacts

DATA = Path(__file__).parent / "data"


def facts(name: str) -> Facts:
    return Facts.from_json(json.loads((DATA / f"{name}.json").read_text()))


@pytest.fixture
def staging() -> Facts:
    return facts("staging_pg15")


@pytest.fixture
def production() -> Facts:
    return facts("production_pg16")


def as_production(f: Facts) -> Facts:
    """The same facts under production's name, with production's PostgreSQL 16."""
    return replace(f, environment="production", backing=facts("production_pg16").backing)


def rows(report: Report, layer: str) -> dict[str, Row]:
    return {row.key: row for row in report.rows if row.layer == layer}


def only_difference(report: Report) -> list[tuple[str, str, str]]:
    return [(r.layer, r.key, r.severity) for r in report.rows if not r.equal]


def test_real_facts_differing_only_in_postgres_major_block_on_that_row(
    staging: Facts, production: Facts
) -> None:
    report = compare(staging, production)
    assert report.blocking == [rows(report, "postgres")["version"]]
    version = rows(report, "postgres")["version"]
    assert (version.a.split(".")[0], version.b.split(".")[0]) == ("15", "16")
    assert version.reason == "different PostgreSQL major version"
    assert not report.ok
    assert "postgres version: staging 15.18, production 16.2" in version.describe(
        "staging", "production"
    )


def test_equal_facts_give_every_layer_one_equal_row_at_least(production: Facts) -> None:
    report = compare(replace(production, environment="staging"), production)
    assert report.ok and report.all_equal
    assert {row.layer for row in report.rows} == set(LAYERS)
    assert all(row.severity == "-" for row in report.rows)


def test_the_allow_list_downgrades_a_blocking_row_and_keeps_its_reason(
    staging: Facts, production: Facts
) -> None:
    allow = allow_list(
        ("staging", [ParityAllow(layer="postgres", key="version", reason="PG15 until 2027-01")])
    )
    report = compare(staging, production, allow)
    assert report.ok and not report.all_equal
    [allowed] = report.allowed
    assert (allowed.key, allowed.reason, allowed.allowed_by) == (
        "version", "PG15 until 2027-01", "staging",
    )  # fmt: skip


def test_an_allow_entry_without_key_covers_the_layer_and_the_other_side_counts_too(
    staging: Facts, production: Facts
) -> None:
    allow = allow_list(("production", [ParityAllow(layer="postgres", reason="upgrading")]))
    assert compare(staging, production, allow).ok
    elsewhere = allow_list(("staging", [ParityAllow(layer="python", reason="n/a")]))
    assert not compare(staging, production, elsewhere).ok
    other_key = allow_list(("staging", [ParityAllow(layer="postgres", key="brand", reason="n/a")]))
    assert not compare(staging, production, other_key).ok


def test_allow_entries_never_touch_equal_rows(production: Facts) -> None:
    allow = allow_list(("staging", [ParityAllow(layer="os", reason="whatever")]))
    report = compare(replace(production, environment="staging"), production, allow)
    assert report.all_equal and report.allowed == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"distribution": "ubuntu"}, [("os", "distribution", "blocking")]),
        ({"version": "11"}, [("os", "version", "blocking")]),
        ({"version": "12.1"}, [("os", "version", "warning")]),
        ({"architecture": "aarch64"}, [("os", "architecture", "warning")]),
        ({"libc": "glibc 2.31"}, [("os", "libc", "warning")]),
        ({"kernel": "5.10.0-28-amd64"}, [("os", "kernel", "info")]),
    ],
)
def test_os_rules(
    production: Facts, change: dict[str, str], expected: list[tuple[str, ...]]
) -> None:
    other = replace(production, environment="staging", os=replace(production.os, **change))
    assert only_difference(compare(other, production)) == expected


def test_python_rules_with_real_probes(production: Facts) -> None:
    from stageline.parity.facts import parse_probe

    for file, severity in (
        ("probe_debian12_cpython3112_system.txt", "warning"),  # 3.11.2 vs 3.11.7
        ("probe_debian12_cpython312.txt", "blocking"),  # 3.12 vs 3.11
    ):
        _, python, _ = parse_probe((DATA / file).read_text())
        other = replace(production, environment="staging", python=python)
        assert only_difference(compare(other, production)) == [("python", "version", severity)]
    pypy = replace(production, python=PythonFacts("pypy", production.python.version))
    assert only_difference(compare(pypy, production)) == [("python", "implementation", "blocking")]


def test_packages_differing_under_the_same_artifact_block_one_row_each(production: Facts) -> None:
    packages = dict(production.packages)
    packages["uvicorn"] = "0.1.0"
    packages["extra-tool"] = "1.0"
    del packages["alembic"]
    drifted = replace(production, environment="staging", packages=packages)
    report = compare(drifted, production)
    assert only_difference(report) == [
        ("packages", "alembic", "blocking"),
        ("packages", "extra-tool", "blocking"),
        ("packages", "uvicorn", "blocking"),
    ]
    assert rows(report, "packages")["alembic"].a == "absent"
    assert drifted.packages_digest != production.packages_digest


def test_packages_of_different_releases_are_a_warning_and_the_digest_is_info(
    production: Facts,
) -> None:
    packages = {**production.packages, "shop": "1.7.0rc1"}
    newer = replace(
        production, environment="staging", packages=packages, digest="sha256:" + "b" * 64,
        release="1.7.0rc1",
    )  # fmt: skip
    assert only_difference(compare(newer, production)) == [
        ("packages", "shop", "warning"),
        ("artifact", "digest", "info"),
    ]


@pytest.mark.parametrize(
    ("backing", "expected"),
    [
        ({}, [("postgres", "brand", "blocking")]),
        ({"postgres": BackingFacts("MySQL", "16.2", {"plpgsql": "1.0"})},
         [("postgres", "brand", "blocking")]),
        ({"postgres": BackingFacts("PostgreSQL", "16.2")},
         [("postgres", "extension:plpgsql", "warning")]),
        ({"postgres": BackingFacts("PostgreSQL", "16.9", {"plpgsql": "1.0"})},
         [("postgres", "version", "warning")]),
        ({"postgres": BackingFacts("PostgreSQL", "16.2", {"plpgsql": "1.0", "uuid-ossp": "1.1"})},
         [("postgres", "extension:uuid-ossp", "warning")]),
        ({"postgres": BackingFacts("PostgreSQL", "16.2", {"plpgsql": "1.1"})},
         [("postgres", "extension:plpgsql", "warning")]),
    ],
)  # fmt: skip
def test_backing_rules(
    production: Facts, backing: dict[str, BackingFacts], expected: list[tuple[str, ...]]
) -> None:
    other = replace(production, environment="staging", backing=backing)
    assert only_difference(compare(other, production)) == expected


def test_a_missing_variable_name_blocks_and_no_value_is_shown(production: Facts) -> None:
    fewer = replace(
        production, environment="staging",
        variables=tuple(v for v in production.variables if v != "PAYMENT_API_KEY"),
    )  # fmt: skip
    report = compare(fewer, production)
    assert only_difference(report) == [("variables", "PAYMENT_API_KEY", "blocking")]
    row = rows(report, "variables")["PAYMENT_API_KEY"]
    assert (row.a, row.b, row.reason) == ("missing", "set", "missing variable name")


def test_overrides_and_infrastructure_are_warnings_and_show_no_override_value(
    production: Facts,
) -> None:
    other = replace(
        production, environment="staging",
        overrides={"vars.LOG_LEVEL": "aaaa", "accept": "bbbb"},
        infrastructure={"terraform": "1" * 64},
    )  # fmt: skip
    base = replace(production, overrides={"vars.LOG_LEVEL": "cccc"}, infrastructure={})
    report = compare(other, base)
    assert only_difference(report) == [
        ("overrides", "accept", "warning"),
        ("overrides", "vars.LOG_LEVEL", "warning"),
        ("infrastructure", "terraform", "warning"),
    ]
    assert report.ok
    shown = json.dumps(report.to_json())
    assert "aaaa" not in shown and "cccc" not in shown
    same = compare(replace(other, environment="x"), replace(other, environment="y"))
    assert same.all_equal
    assert rows(same, "infrastructure")["terraform"].a.startswith("sha256 111")


def test_report_json_round_trips_rows(staging: Facts, production: Facts) -> None:
    data = compare(staging, production).to_json()
    assert data["ok"] is False and data["blocking"] == 1
    assert isinstance(data["rows"], list) and len(data["rows"]) == len(
        compare(staging, production).rows
    )


def test_facts_json_round_trip(staging: Facts) -> None:
    assert Facts.from_json(json.loads(json.dumps(staging.to_json()))) == staging
    assert isinstance(staging.os, OsFacts) and staging.os.distribution == "debian"


def test_allowed_matches_layer_and_optional_key() -> None:
    row = Row("packages", "uvicorn", "1", "2", False, "blocking")
    assert Allowed("s", ParityAllow(layer="packages", reason="r")).matches(row)
    assert Allowed("s", ParityAllow(layer="packages", key="uvicorn", reason="r")).matches(row)
    assert not Allowed("s", ParityAllow(layer="packages", key="anyio", reason="r")).matches(row)
    assert not Allowed("s", ParityAllow(layer="os", reason="r")).matches(row)
