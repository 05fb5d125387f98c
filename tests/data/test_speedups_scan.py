"""The leak scan's C path (``Masker.scan``) against its Python reference: the same counts
of values and of production values found, per column, on generated COPY rows."""

from __future__ import annotations

import json
from array import array

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stageline.data.catalog import Column
from stageline.data.copytext import encode_field
from stageline.data.fingerprints import Fingerprints, FingerprintSet
from stageline.data.masking import KeyedHash, MaskingKey, c_masks, fingerprint, normalize
from stageline.data.scan import _scan_block
from stageline.data.words import DOMAINS, FIRST_NAMES, LAST_NAMES

KEY = MaskingKey(b"scan-test-key-0123456789abcdefgh")
HASH = KeyedHash(KEY.mask)
PRODUCTION = [
    "ann.real@shop.test", "Margarethe Quackenbush", "+44 20 7946 0000", "203.0.113.9",
    "a note about the parcel", "Zoë Ångström", "x@y.test",
]  # fmt: skip
COLUMNS = [
    Column("note", "text", "text", False, None, False),
    Column("profile", "jsonb", "jsonb", False, None, False),
    Column("ip", "inet", "inet", False, None, False),
]


def prints(values: list[str]) -> Fingerprints:
    found = {fingerprint(HASH, normalize(v)) for v in values}
    return Fingerprints(KEY.key_id, array("Q", sorted(found)))


SETS = [prints(PRODUCTION), FingerprintSet([prints(PRODUCTION[:3]), prints(PRODUCTION[3:])])]

plain = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=30)
production = st.sampled_from(PRODUCTION).flatmap(
    lambda v: st.sampled_from([v, v.upper(), f"  {v} ", v.lower()])
)
fakes = st.one_of(
    st.builds(lambda f, d: f"{f.lower()}.x.0123abcd@{d}", st.sampled_from(FIRST_NAMES),
              st.sampled_from(DOMAINS)),
    st.builds(lambda f, last: f"{f} {last}", st.sampled_from(FIRST_NAMES),
              st.sampled_from(LAST_NAMES)),
)  # fmt: skip
inside = st.builds(lambda a, b: f"write to {a}, or {b}", production, plain)
strings = st.one_of(plain, production, fakes, inside, st.text(max_size=12))
docs = st.recursive(
    st.one_of(strings, st.integers(-5, 10**6), st.booleans(), st.none(), st.floats(0, 9)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.sampled_from("abcde"), inner, max_size=3)
    ),
    max_leaves=6,
)


def field(value: str | None) -> bytes:
    return encode_field(value)


rows = st.lists(
    st.tuples(
        st.one_of(st.none(), strings).map(field),
        st.one_of(
            st.none().map(field),
            docs.map(lambda d: field(json.dumps(d, separators=(", ", ": ")))),
            docs.map(lambda d: field(json.dumps(d, ensure_ascii=False))),
            strings.map(field),  # a text column scanned as JSON: not JSON at all
        ),
        st.one_of(st.none(), production, plain, st.just("10.1.2.3")).map(field),
    ),
    max_size=25,
)


@settings(max_examples=300, deadline=None)
@given(rows=rows, which=st.sampled_from([0, 1]))
def test_the_c_scan_counts_what_the_python_counts(
    rows: list[tuple[bytes, bytes, bytes]], which: int
) -> None:
    fast = c_masks(KEY)
    assert fast is not None, "stageline._speedups is not built"
    block = b"".join(b"\t".join(row) + b"\n" for row in rows)
    fingerprints = SETS[which]
    assert _scan_block(block, COLUMNS, HASH, fingerprints, fast) == _scan_block(
        block, COLUMNS, HASH, fingerprints, None
    )


def test_the_c_scan_finds_production_values_itself() -> None:
    """Plain values are looked up in C: found without the Python fallback being asked."""
    fast = c_masks(KEY)
    assert fast is not None
    asked: list[bytes] = []

    def fallback(raw: bytes) -> bool:
        asked.append(raw)
        return False

    block = (
        b'ANN.REAL@shop.test\t{"a": [1, {"b": "margarethe quackenbush"}]}\n'
        b'ada.abbott.00@example.com\t{"a": "Ada Abbott"}\n'
        b"\\N\t\\N\n"
    )
    values, hits = fast.scan(block, [(False, fallback), (True, fallback)], [SETS[0].values])
    assert (values, hits, asked) == (4, [1, 1], [])


def test_the_c_scan_refuses_rows_of_another_width() -> None:
    fast = c_masks(KEY)
    assert fast is not None
    never = [(False, lambda raw: False), (False, lambda raw: False)]
    for block in (b"a\tb\nc\n", b"a\tb\tc\n", b"a\tb"):
        with pytest.raises(ValueError, match="2 fields"):
            fast.scan(block, never, [SETS[0].values])
    for block in (b"a\tb\tc\td\n", b"a\n"):  # the Python reference refuses them alike
        with pytest.raises(ValueError, match="3 fields"):
            _scan_block(block, COLUMNS, HASH, SETS[0], None)
    with pytest.raises(ValueError, match="64-bit"):
        fast.scan(b"a\tb\n", never, [b"1234567"])
