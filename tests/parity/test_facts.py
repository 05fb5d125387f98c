"""Judging the probe's output (real outputs in data/), overrides and infrastructure hashes."""

from __future__ import annotations

from pathlib import Path

import pytest

from stageline.errors import InfrastructureError
from stageline.parity.facts import normalize, packages_digest, parse_probe, server_facts
from stageline.parity.probe import defaults_overrides, path_hash

DATA = Path(__file__).parent / "data"


def test_parse_a_real_probe_of_a_release_virtualenv() -> None:
    os_facts, python, packages = parse_probe((DATA / "probe_debian12_cpython311.txt").read_text())
    assert (os_facts.distribution, os_facts.version) == ("debian", "12")
    assert os_facts.pretty == "Debian GNU/Linux 12 (bookworm)"
    assert os_facts.libc.startswith("glibc ") and os_facts.architecture == "x86_64"
    assert (python.implementation, python.version) == ("cpython", "3.11.7")
    assert packages["sqlalchemy"] and packages["markupsafe"]  # names normalized
    assert "SQLAlchemy" not in packages and list(packages) == sorted(packages)


def test_parse_takes_the_last_json_line_after_noise() -> None:
    text = (DATA / "probe_debian12_cpython312.txt").read_text()
    _, python, _ = parse_probe("a warning printed first\n{not json\n" + text)
    assert python.version.startswith("3.12.")


def test_parse_without_facts_is_an_infrastructure_error() -> None:
    with pytest.raises(InfrastructureError, match="printed no facts"):
        parse_probe("Traceback (most recent call last):\nboom")


def test_missing_os_release_fields_read_as_unknown() -> None:
    os_facts, python, packages = parse_probe('{"os_release": {}, "packages": {}}')
    assert (os_facts.distribution, os_facts.version) == ("unknown", "unknown")
    assert packages == {} and python.version == ""


def test_normalize_and_digest() -> None:
    assert normalize("Foo_Bar.baz") == "foo-bar-baz"
    assert packages_digest({"a": "1", "b": "2"}) == packages_digest({"b": "2", "a": "1"})
    assert packages_digest({"a": "1"}) != packages_digest({"a": "2"})


def test_server_facts_from_what_postgresql_says() -> None:
    facts = server_facts(
        "PostgreSQL 15.18 (Debian 15.18-0+deb12u1) on x86_64-pc-linux-gnu",
        "15.18 (Debian 15.18-0+deb12u1)",
        {"plpgsql": "1.0"},
    )
    assert (facts.brand, facts.version, facts.extensions) == (
        "PostgreSQL",
        "15.18",
        {"plpgsql": "1.0"},
    )
    assert server_facts("", "", {}).brand == "unknown"


RAW = {
    "defaults": {
        "accept": ["v*"],
        "vars": {"LOG_LEVEL": "info"},
        "services": {"postgres": {"version": 16}},
    },
    "environments": {
        "staging": {"accept": ["v*"], "ttl_hours": 72},
        "production": {"vars": {"LOG_LEVEL": "warning", "PAYMENT_URL": "x"}},
        "review": {"extends": "staging", "services": {"postgres": {"version": 15}}},
        "loop": {"extends": "loop"},
    },
}


def test_defaults_overrides_are_keys_set_again_with_a_hash_of_the_value() -> None:
    staging = defaults_overrides(RAW, "staging")
    assert list(staging) == ["accept"]  # ttl_hours is not in [defaults]
    production = defaults_overrides(RAW, "production")
    assert list(production) == ["vars.LOG_LEVEL"]  # PAYMENT_URL adds, it overrides nothing
    review = defaults_overrides(RAW, "review")
    assert list(review) == ["accept", "services.postgres.version"]  # through extends
    assert review["accept"] == staging["accept"]
    assert "warning" not in repr(production) and "info" not in repr(production)
    assert defaults_overrides(RAW, "loop") == {}
    assert defaults_overrides({}, "staging") == {}


def test_path_hash_of_a_folder_follows_content_and_names_not_hidden_files(tmp_path: Path) -> None:
    folder = tmp_path / "infra"
    (folder / "modules").mkdir(parents=True)
    (folder / "main.tf").write_text('resource "x" "y" {}\n')
    (folder / "modules" / "db.tf").write_text("db\n")
    first = path_hash(folder)
    (folder / ".terraform").mkdir()
    (folder / ".terraform" / "cache").write_text("noise")
    assert path_hash(folder) == first
    (folder / "modules" / "db.tf").write_text("db2\n")
    assert path_hash(folder) != first
    assert path_hash(folder / "main.tf") == path_hash(folder / "main.tf") != first
    assert path_hash(tmp_path / "nope") == "missing"
