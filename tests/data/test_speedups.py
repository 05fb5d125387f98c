"""The C masks (stageline._speedups) against the Python reference (stageline.data.masking):
the same bytes and fingerprints on generated and hand-picked inputs, and safe on bad ones."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from array import array
from datetime import date
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stageline.data import masking
from stageline.data.copytext import NULL, decode_field, encode_field
from stageline.data.fingerprints import collected
from stageline.data.masking import WORD_TABLES, ColumnMasker, MaskingKey, Prints
from stageline.data.rules import ColumnRule

KEY = MaskingKey(b"speedups-test-key-0123456789abcd")
LEAF_KINDS = ("null", "redact", "hash", "email", "name", "phone", "address", "text", "ip")
JSON_KEYS = {"email": "email", "phone": "phone", "who": "name", "note": "text", "ip": "ip",
             "gone": "null", "h": "hash", "r": "redact", "street": "address"}  # fmt: skip
BUILD_HINT = "build it: apt-get install gcc libssl-dev, then uv pip install -e '.[dev]'"
SETTINGS = settings(max_examples=200, deadline=None)
PER_KIND = settings(max_examples=120, deadline=None)  # x 9 kinds: the same C code


def speedups() -> Any:
    built = vars(masking).get("_speedups")
    assert built is not None, f"stageline._speedups is not built; {BUILD_HINT}"
    return built


def pair(rule: object, max_length: int | None = None) -> tuple[ColumnMasker, ColumnMasker]:
    """The same rule accelerated (checked to really use the C) and in pure Python."""
    parsed = ColumnRule.model_validate(rule)
    fast = ColumnMasker(parsed, KEY, max_length, accelerate=True)
    assert fast._fast is not None, f"the C masks are off; {BUILD_HINT}"
    return fast, ColumnMasker(parsed, KEY, max_length, accelerate=False)


def both_fields(rule: object, fields: list[bytes], max_length: int | None = None) -> None:
    """Each path masks ``fields`` twice (the second time through its memo): same bytes,
    same set of fingerprints."""
    fast, slow = pair(rule, max_length)
    p1, p2 = Prints(), Prints()
    for _ in range(2):
        assert fast.apply_fields(list(fields), p1) == slow.apply_fields(list(fields), p2)
    assert sorted(set(p1.values)) == sorted(set(p2.values))


# ---- generated COPY fields ----

ascii_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40)
spaces = st.text(st.sampled_from(" \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f"), max_size=3)
local = st.text(st.sampled_from("abcxyzABC019._%+-"), min_size=1, max_size=12)
email = st.builds("{}@{}.{}".format, local, st.sampled_from(["b", "shop-1", "mail.co"]),
                  st.sampled_from(["test", "com", "IO"]))  # fmt: skip
emails_inside = st.sampled_from(
    ["Ann <a@b.test>", "x@y.test, z@w.test", "mail me: Ann.Lee@Shop.test", "a@b.test;c@d.test",
     "Bob <bob@example.com>", " ann@b.test "]
)  # fmt: skip
non_ascii = st.builds("{}{}{}".format, ascii_text, st.sampled_from(["é", "😀", "ß", "İ", "\x85"]),
                      ascii_text)  # fmt: skip
day = st.dates(min_value=date(1, 1, 1), max_value=date(9999, 12, 31))
dates = st.one_of(
    st.builds("{}{}".format, day.map(date.isoformat),
              st.sampled_from(["", " 10:00:00+00", "T23:59:59.5", " BC", "x"])),
    st.sampled_from(["2021-02-30", "2020-02-29", "2019-02-29", "0001-01-01", "0001-01-02 00:00",
                     "9999-12-31", "9999-12-30 23:00:00+00", "infinity", "-infinity",
                     "2020-13-01", "20200101", "0000-01-01", "2020-1-01", "2020-01-0",
                     "+2020-01-01"]),
)  # fmt: skip
ips = st.one_of(
    st.ip_addresses().map(str),
    st.builds("{}{}".format, st.ip_addresses().map(str),
              st.sampled_from(["/24", "/32", "/64", "/128"])),
)  # fmt: skip
values = st.one_of(
    ascii_text,
    ascii_text.map(str.upper),
    st.builds("{}{}{}".format, spaces, st.one_of(ascii_text, email), spaces),
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=3),
    st.text(st.sampled_from("ab \t\n\r\\"), max_size=8),  # COPY-escaped
    email, email.map(str.upper), emails_inside, non_ascii, dates, ips,
)  # fmt: skip
fields_of = st.lists(
    st.one_of(values.map(encode_field), st.just(NULL),
              st.sampled_from([b"\\101bc-de", b"ann\\x40b.test", b"\\\\N", b"a\\\\b", b""])),
    max_size=20,
)  # fmt: skip


@pytest.mark.parametrize("kind", LEAF_KINDS)
@given(fields=fields_of, max_length=st.sampled_from([None, 0, 3, 12]))
@PER_KIND
def test_columns_equal_python(kind: str, fields: list[bytes], max_length: int | None) -> None:
    both_fields(kind, fields, max_length)


@pytest.mark.parametrize("days", [1, 30, 36500])
@given(fields=fields_of, max_length=st.sampled_from([None, 4, 12]))
@PER_KIND
def test_date_columns_equal_python(days: int, fields: list[bytes], max_length: int | None) -> None:
    both_fields({"mask": "date", "days": days}, fields, max_length)


@pytest.mark.parametrize("kind", [*LEAF_KINDS, "date"])
def test_the_c_masks_plain_values_itself(kind: str) -> None:
    fields = [b"ann.lee%d@shop.test" % i for i in range(50)] + [
        b"2020-01-%02d" % i for i in (1, 31)
    ]
    if kind == "ip":
        fields = [b"192.168.%d.7" % i for i in range(50)]
    if kind == "date":
        fields = [b"2020-01-%02d 10:00:00+00" % i for i in range(1, 29)]
    out = speedups().Masker(KEY.mask, WORD_TABLES).column(kind, fields, -1, 30)
    assert None not in out
    assert out != fields
    both_fields({"mask": kind}, fields)


# ---- JSON ----

json_text = st.one_of(ascii_text, email, emails_inside, non_ascii, ips)
doc_keys = st.one_of(st.sampled_from(sorted(JSON_KEYS)), st.sampled_from(["a", "id", "tags"]))
docs = st.recursive(
    st.one_of(st.integers(-(10**15), 10**15), st.booleans(), st.none(), json_text),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(doc_keys, inner, max_size=4),
    max_leaves=14,
)


def jsonb(doc: Any) -> bytes:
    """``doc`` as PostgreSQL's jsonb prints it, as a COPY field."""
    return encode_field(json.dumps(doc, separators=(", ", ": "), ensure_ascii=False))


def json_rule(keys: dict[str, str]) -> dict[str, Any]:
    return {"mask": "json", "keys": keys}


@given(fields=st.lists(docs.map(jsonb), max_size=8), keys=st.sampled_from(
    [JSON_KEYS, {"email": "email"}, {"who": "name", "note": "text", "a": "hash"}]))  # fmt: skip
@SETTINGS
def test_json_columns_equal_python(fields: list[bytes], keys: dict[str, str]) -> None:
    both_fields(json_rule(keys), fields)


def test_the_c_masks_plain_json_itself() -> None:
    doc = jsonb({"id": 7, "email": "ann@shop.test", "x": [{"phone": "555 1234"}, None, True]})
    out = speedups().Masker(KEY.mask, WORD_TABLES).json_column(JSON_KEYS, [doc])
    assert out[0] is not None and b"ann@shop.test" not in out[0] and b"555 1234" not in out[0]
    both_fields(json_rule(JSON_KEYS), [doc])


ODD_JSON = [b"{", b'{"email": "a@b.test"', b'{"email": NaN}', b"NaN", b"[1, 2,]", b"",
            b'{"email": "\\\\u0041nn@b.test"}', b'{"email": "a\\\\"b@c.test"}', b'{"a" 1}',
            b'{"email": "a@b.test"} x', b'{"email": 12}', b'{"email": true}',
            b'{"email": ["a@b.test", {"phone": "1234"}]}', b'{"email": {"x": "ann@b.test"}}',
            b"truex", b"01", b"-", b"1.", b'"plain"']  # fmt: skip


@pytest.mark.parametrize("field", ODD_JSON)
def test_odd_json_equal_python(field: bytes) -> None:
    both_fields(json_rule(JSON_KEYS), [field])


def leaves_under_rule_keys(node: Any, under: bool = False) -> list[Any]:
    if isinstance(node, dict):
        return [
            x for k, v in node.items() for x in leaves_under_rule_keys(v, under or k in JSON_KEYS)
        ]
    if isinstance(node, list):
        return [x for item in node for x in leaves_under_rule_keys(item, under)]
    return [node] if under else []


@given(doc=st.dictionaries(doc_keys, docs, max_size=5),
       separators=st.sampled_from([(",", ":"), (" , ", " : "), (",  ", ":   ")]))  # fmt: skip
@settings(max_examples=100, deadline=None)
def test_json_whitespace_variants_mask_alike(doc: Any, separators: tuple[str, str]) -> None:
    """The json type keeps whitespace: the C keeps the text, Python re-encodes it; the
    masked values are the same, and no source string under a rule key survives."""
    field = encode_field(json.dumps(doc, separators=separators, ensure_ascii=False))
    fast, slow = pair(json_rule(JSON_KEYS))
    p1, p2 = Prints(), Prints()
    got_fast, got_slow = fast.apply_fields([field], p1)[0], slow.apply_fields([field], p2)[0]
    assert json.loads(decode_field(got_fast)) == json.loads(decode_field(got_slow))
    assert sorted(set(p1.values)) == sorted(set(p2.values))
    masked = leaves_under_rule_keys(json.loads(decode_field(got_fast)))
    for source in leaves_under_rule_keys(doc):
        if isinstance(source, str) and source != "[redacted]":
            assert source not in masked


def test_json_number_text_is_kept_alike() -> None:
    """jsonb prints a numeric as it was typed (19.90, 0.10000000000000000001): both paths
    must leave a number that is not under a rule key alone, and alike."""
    field = b'{"email": "ann@shop.test", "price": 19.90, "rate": 0.10000000000000000001}'
    both_fields(json_rule({"email": "email"}), [field])


def test_json_c_keeps_the_text_as_it_is() -> None:
    """json_column keeps the JSON text: with nothing to mask it is the input unchanged."""
    fields = [b'{ "a": 1, "b": [ 2, 3 ] }', b"[ 1]", b'{  "a": {  "b": 2}}', b" 42 "]
    assert (
        speedups().Masker(KEY.mask, WORD_TABLES).json_column({"email": "email"}, fields) == fields
    )


# ---- one value at a time ----


@pytest.mark.parametrize("kind", LEAF_KINDS)
@given(items=st.lists(st.one_of(values, st.text(max_size=20)), max_size=10),
       max_length=st.sampled_from([None, 0, 5]))  # fmt: skip
@PER_KIND
def test_one_equal_python(kind: str, items: list[str], max_length: int | None) -> None:
    fast, slow = pair(kind, max_length)
    p1, p2 = Prints(), Prints()
    assert [fast.apply(v, p1) for v in items] == [slow.apply(v, p2) for v in items]
    assert sorted(set(p1.values)) == sorted(set(p2.values))


# ---- sort_unique ----

u64 = st.one_of(st.integers(0, 2**64 - 1), st.sampled_from([0, 1, 2**63 - 1, 2**63, 2**64 - 1]))


@given(xs=st.lists(u64, max_size=300).flatmap(lambda xs: st.permutations(xs + xs[: len(xs) // 3])))
@SETTINGS
def test_sort_unique_is_sorted_set(xs: list[int]) -> None:
    out = array("Q", speedups().sort_unique(array("Q", xs)))
    assert list(out) == sorted(set(xs))
    assert speedups().sort_unique(array("Q", xs).tobytes()) == out.tobytes()


def test_sort_unique_large_and_bad_lengths() -> None:
    rng = random.Random(7)
    xs = [rng.getrandbits(64) for _ in range(50_000)] + [rng.getrandbits(20) for _ in range(50_000)]
    assert list(array("Q", speedups().sort_unique(array("Q", xs * 2)))) == sorted(set(xs))
    for bad in (b"\0" * 7, b"\0" * 9, b"\0"):
        with pytest.raises(ValueError):
            speedups().sort_unique(bad)


# ---- safety ----


def test_bad_word_tables_are_refused() -> None:
    Masker = speedups().Masker
    short = list(WORD_TABLES)
    short[2] = ("example.com",)
    for words in (WORD_TABLES[:8], (*WORD_TABLES, ("x",)), tuple(short),
                  tuple(list(t) for t in WORD_TABLES), (("x" * 16,) * 64, *WORD_TABLES[1:]),
                  (("é",) * 64, *WORD_TABLES[1:])):  # fmt: skip
        with pytest.raises(ValueError):
            Masker(b"k" * 32, words)


def test_bad_calls_raise_cleanly() -> None:
    m = speedups().Masker(KEY.mask, WORD_TABLES)
    with pytest.raises(ValueError):
        m.column("keep", [b"x"], -1, 30)
    with pytest.raises(TypeError):
        m.column("email", [b"ann@b.test", "ann@b.test"], -1, 30)
    with pytest.raises(ValueError):
        m.json_column({"email": "date"}, [b"{}"])
    with pytest.raises(TypeError):
        m.json_column({"email": "email"}, [b"{}", None])
    with pytest.raises(ValueError):
        m.one("null", "x")
    m.drain()  # the refused column() keeps the print of the field before the bad one
    assert m.drain() == b""
    assert m.column("email", [b"ann@b.test"], -1, 30)[0] is not None


def test_big_fields_and_columns_equal_python() -> None:
    huge = b"Lorem ipsum dolor sit amet, ann.lee@shop.test " * 23_000  # about 1 MB
    for kind in ("text", "hash", "email", "date", "ip"):
        both_fields(kind, [huge, huge.replace(b"@", b"#")])
    both_fields(json_rule(JSON_KEYS), [jsonb({"note": huge.decode(), "a": [huge.decode()]})])
    column = [b"user%d@shop.test" % i for i in range(10_000)]
    both_fields("email", column)
    both_fields("text", [b"Some Text %d" % (i % 500) for i in range(10_000)])


def test_deep_json_falls_back() -> None:
    deep = b'{"a": ' * 100 + b'{"email": "ann@shop.test"}' + b"}" * 100
    assert speedups().Masker(KEY.mask, WORD_TABLES).json_column(JSON_KEYS, [deep]) == [None]
    both_fields(json_rule(JSON_KEYS), [deep, b"[" * 100 + b"]" * 100])


def test_collected_alike_in_pure_python(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(3)
    xs = [rng.getrandbits(64) for _ in range(5000)] + [2**63, 0, 2**64 - 1] * 3
    fast, slow = Prints(), Prints()
    fast.values, slow.values = array("Q", xs), array("Q", xs)
    with_c = collected(fast, KEY)
    monkeypatch.setenv("STAGELINE_PURE_PYTHON", "1")
    assert not masking.accelerated()
    without = collected(slow, KEY)
    assert list(with_c.values) == list(without.values) == sorted(set(xs))
    assert with_c.key_id == without.key_id and len(fast.values) == len(slow.values) == 0


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a new interpreter (a crash there must not take the tests down)."""
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)


def test_masker_not_initialized_does_not_crash() -> None:
    proc = run_python(
        "from stageline import _speedups as s\n"
        "m = s.Masker.__new__(s.Masker)\n"
        "try:\n    m.column('email', [b'ann@shop.test'], -1, 30)\n"
        "except Exception as e:\n    print(type(e).__name__)\n"
    )
    assert proc.returncode == 0, f"Masker.__new__(Masker).column(...) crashed: {proc.returncode}"


def test_failed_reinit_leaves_no_dangling_words() -> None:
    proc = run_python(
        "from stageline import _speedups as s\n"
        "from stageline.data.masking import WORD_TABLES as W\n"
        "m = s.Masker(b'k' * 32, W)\n"
        "try:\n    m.__init__(b'k' * 32, (*W[:8], ('x',)))\nexcept ValueError:\n    pass\n"
        "junk = [bytes([65 + i % 26]) * (1 + i % 15) for i in range(200000)]\n"
        "out = m.column('text', [b'abcdefgh' * 20 + b'%d' % i for i in range(50)], -1, 0)\n"
        "words = set(W[8])\n"
        "for o in out:\n"
        "    if o is not None:\n"
        "        assert set(o.rstrip(b'.').lower().decode('latin-1').split(' ')) <= words, o\n"
    )
    assert proc.returncode == 0, proc.stderr[-400:]


def test_extension_is_built() -> None:
    try:
        from stageline import _speedups
    except ImportError as error:  # pragma: no cover - the message is the point
        pytest.fail(f"stageline._speedups does not import ({error}); {BUILD_HINT}")
    assert vars(masking)["_speedups"] is _speedups
    assert masking.accelerated() or os.environ.get("STAGELINE_PURE_PYTHON") == "1"
