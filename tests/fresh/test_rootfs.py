"""The pure parts of the fresh roots: which mirror, which cache key."""

from __future__ import annotations

import datetime

from tests.fresh.rootfs import cache_key, debian_mirror

DEB822 = """Types: deb
URIs: http://mirror.example.invalid/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://mirror.example.invalid/debian-security
Suites: bookworm-security
Components: main
"""


def test_the_mirror_comes_from_deb822_sources() -> None:
    got = debian_mirror({"/etc/apt/sources.list.d/debian.sources": DEB822})
    assert got == "http://mirror.example.invalid/debian"


def test_the_mirror_comes_from_one_line_sources_skipping_other_suites() -> None:
    text = (
        "# deb http://old.example.invalid/debian bookworm main\n"
        "deb-src http://src.example.invalid/debian bookworm main\n"
        "deb http://sec.example.invalid/debian-security bookworm-security main\n"
        "deb [arch=amd64 signed-by=/k.gpg] http://one.example.invalid/debian bookworm main\n"
    )
    assert debian_mirror({"/etc/apt/sources.list": text}) == "http://one.example.invalid/debian"


def test_no_source_for_the_suite_gives_none() -> None:
    disabled = DEB822.replace("Types: deb\nURIs", "Types: deb\nEnabled: no\nURIs", 1)
    assert (
        debian_mirror({"a.sources": disabled, "b.list": "deb http://x.invalid trixie main"}) is None
    )


def test_the_cache_key_changes_with_the_week_and_the_mirror() -> None:
    monday = datetime.date(2026, 11, 30)
    assert cache_key(monday, "http://a.invalid") == cache_key(
        monday + datetime.timedelta(days=6), "http://a.invalid"
    )
    assert cache_key(monday, "http://a.invalid") != cache_key(
        monday + datetime.timedelta(days=7), "http://a.invalid"
    )
    assert cache_key(monday, "http://a.invalid") != cache_key(monday, "http://b.invalid")
    assert cache_key(monday, "http://a.invalid").startswith("debian-bookworm-2026w49-")
