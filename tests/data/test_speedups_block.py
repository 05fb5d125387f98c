"""Whole COPY blocks: ``_speedups.Masker.block`` and ``stream.mask_block`` against the
pure-Python reference (the same bytes and fingerprints), and their errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stageline.data.copytext import NULL, encode_field
from stageline.data.masking import ColumnMasker, MaskingKey, Prints
from stageline.data.rules import ColumnRule
from stageline.data.stream import mask_block
from tests.data.test_speedups import BUILD_HINT, JSON_KEYS, KEY, docs, jsonb, values

OTHER = MaskingKey(b"another-block-test-key-987654321")
LEAVES = ("null", "redact", "hash", "email", "name", "phone", "address", "text", "ip")
Masked = list[tuple[int, ColumnMasker]]


def masker(rule: object, fast: bool, max_length: int | None = None, key: MaskingKey = KEY) -> Any:
    made = ColumnMasker(ColumnRule.model_validate(rule), key, max_length, accelerate=fast)
    assert not fast or made.accelerator is not None, f"the C masks are off; {BUILD_HINT}"
    return made


def no_python_columns(masked: Masked) -> None:
    """Make the Python split/join path fail loudly: mask_block must take the C block."""

    def refuse(fields: list[bytes], prints: Prints) -> list[bytes]:
        raise AssertionError("mask_block took the Python path")

    for _, m in masked:
        m.apply_fields = refuse  # type: ignore[method-assign]


Rules = list[tuple[int, object, int | None]]


def counting(call: Callable[..., Any], calls: list[bytes]) -> Callable[..., Any]:
    def counted(field: Any, *rest: Any) -> Any:
        calls.append(field)
        return call(field, *rest)

    return counted


def both(rules: Rules, block: bytes, width: int, c_only: bool = True) -> bytes:
    """``block`` masked with C-capable maskers (in one C block call when ``c_only``, else
    by the Python split/join path) and with pure-Python ones: same bytes, same set of
    fingerprints; returns the bytes."""
    fast = [(pos, masker(rule, True, limit)) for pos, rule, limit in rules]
    slow = [(pos, masker(rule, False, limit)) for pos, rule, limit in rules]
    calls: list[bytes] = []
    if c_only:
        no_python_columns(fast)
    else:  # count the columns the Python path masks
        for _, m in fast:
            m.apply_fields = counting(m.apply_fields, calls)
    p1, p2 = Prints(), Prints()
    got = mask_block(block, fast, width, p1)
    assert got == mask_block(block, slow, width, p2)
    assert set(p1.values) == set(p2.values)
    assert len(calls) == (0 if c_only else len(fast))
    return got


def rows_block(rows: list[list[bytes]]) -> bytes:
    return b"".join(b"\t".join(row) + b"\n" for row in rows)


# ---- 1. generated tables ----

odd_fields = st.sampled_from([b"\\101bc-de", b"ann\\x40b.test", b"\\\\N", b"a\\\\b", b"", NULL])
cell = st.one_of(values.map(encode_field), odd_fields)
json_cell = st.one_of(docs.map(jsonb), docs.map(jsonb), cell)
KEY_SETS = (JSON_KEYS, {"email": "email"}, {"who": "name", "a": "hash"})
kinds = st.sampled_from(
    [*LEAVES, "keep", "keep", *({"mask": "date", "days": d} for d in (1, 30, 36500)),
     *({"mask": "json", "keys": k} for k in KEY_SETS)]
)  # fmt: skip
columns = st.lists(st.tuples(kinds, st.sampled_from([None, 0, 3, 12, 40])), min_size=1, max_size=6)


@st.composite
def tables(draw: st.DrawFn) -> tuple[list[tuple[Any, int | None]], list[list[bytes]]]:
    cols = draw(columns)
    row = st.tuples(*(json_cell if isinstance(k, dict) and k["mask"] == "json" else cell
                      for k, _ in cols)).map(list)  # fmt: skip
    return cols, draw(st.lists(row, max_size=10))


Table = tuple[list[tuple[Any, int | None]], list[list[bytes]]]


@given(table=tables(), flip=st.booleans())
@settings(max_examples=150, deadline=None)
def test_block_equals_python(table: Table, flip: bool) -> None:
    cols, rows = table
    rules = [(i, k, limit) for i, (k, limit) in enumerate(cols) if k != "keep"]
    if flip:  # masked columns in any order
        rules.reverse()
    fast = [(pos, masker(rule, True, limit)) for pos, rule, limit in rules]
    slow = [(pos, masker(rule, False, limit)) for pos, rule, limit in rules]
    no_python_columns(fast)
    block, p1, p2 = rows_block(rows), Prints(), Prints()
    for _ in range(2):  # the second time through the Python memos
        assert mask_block(block, fast, len(cols), p1) == mask_block(block, slow, len(cols), p2)
    assert set(p1.values) == set(p2.values)


def counted(spec: Any, calls: list[bytes]) -> tuple[Any, ...]:
    what, limit, days, fallback = spec
    return what, limit, days, counting(fallback, calls)


def test_plain_rows_are_masked_in_c_alone() -> None:
    rules: Rules = [
        (1, "email", None), (2, {"mask": "json", "keys": JSON_KEYS}, None), (3, "date", 12),
    ]  # fmt: skip
    rows = [[b"%d" % i, b"Ann.Lee%d@shop.test" % i, b'{"email": "a%d@b.test", "n": [1]}' % i,
             b"2020-01-%02d 10:00:00+00" % (1 + i % 28)] for i in range(300)]  # fmt: skip
    block = rows_block(rows)
    fast = [(pos, masker(rule, True, limit)) for pos, rule, limit in rules]
    calls: list[bytes] = []
    specs = [(pos, *counted(m.block_spec(Prints()), calls)) for pos, m in fast]
    c = fast[0][1].accelerator
    out = c.block(block, 4, specs)
    assert calls == [] and len(c.drain()) == 8 * 600  # one print per e-mail, none for dates
    no_python_columns(fast)
    assert out == mask_block(block, fast, 4, Prints()) == both(rules, block, 4)
    assert b"shop.test" not in out and b"a7@b.test" not in out and out.count(b"\n") == 300


def test_odd_fields_go_to_the_fallback() -> None:
    c = masker("email", True).accelerator
    calls: list[bytes] = []
    spec = (0, *counted(masker("email", True).block_spec(Prints()), calls))
    block = b"\xc3\xa9t\xc3\xa9@b.test\tx\na\\tb@c.test\ty\n\\N\tz\nann@b.test\tw\n"
    out = c.block(block, 2, [spec])
    assert calls == [b"\xc3\xa9t\xc3\xa9@b.test", b"a\\tb@c.test"]
    assert out == both([(0, "email", None)], block, 2)
    assert out.split(b"\n")[2] == b"\\N\tz"


# ---- 2. errors ----

GOOD = b"1\tann@b.test\tx\n2\tbob@c.test\ty\n"
MISALIGNED = [b"1\tann@b.test\n" + GOOD, b"1\ta@b.test\tx\tz\n" + GOOD,
              GOOD + b"3\tc@d.test\n" + GOOD, GOOD + b"3\tc@d.test\tz\t4\n" + GOOD,
              b"1\tann@b.test\n2\tb@c.test\tx\ty\n", b"1\tann@b.test\tx\tz\n2\tbob@c.test\n",
              GOOD + b"\n", GOOD[:-1],
              GOOD + b"3\tc@d.test\tz"]  # fmt: skip


@pytest.mark.parametrize("block", MISALIGNED)
def test_c_refuses_rows_of_another_width(block: bytes) -> None:
    m = masker("email", True)
    c = m.accelerator
    with pytest.raises(ValueError, match="3 fields"):
        c.block(block, 3, [(1, *m.block_spec(Prints()))])
    assert c.drain() == b""
    with pytest.raises(ValueError, match="3 fields"):
        mask_block(block, [(1, m)], 3, Prints())


@pytest.mark.parametrize("block", MISALIGNED)
def test_python_path_refuses_rows_of_another_width(block: bytes) -> None:
    """The split/join path (taken when a column has no C, e.g. ``constant``) must not
    shift fields between columns or drop a cut-off last row either."""
    masked = [(0, masker({"mask": "constant", "value": "c"}, True)), (1, masker("email", True))]
    with pytest.raises(ValueError, match="3 fields"):
        mask_block(block, masked, 3, Prints())


def test_python_path_refuses_a_cut_off_last_row() -> None:
    masked = [(0, masker({"mask": "constant", "value": "c"}, True))]
    with pytest.raises(ValueError):
        mask_block(b"ann@b.test\nbob@b.test", masked, 1, Prints())


def test_bad_widths_and_columns_are_refused() -> None:
    m = masker("email", True)
    c, spec = m.accelerator, m.block_spec(Prints())
    for width in (0, -1):
        with pytest.raises(ValueError, match="width"):
            c.block(b"a\n", width, [])
    for cols in ([(0, *spec), (0, *spec)], [(2, *spec)], [(-1, *spec)], [(0, *spec[:3], None)]):
        with pytest.raises(ValueError, match="positions"):
            c.block(GOOD, 2, cols)
    for cols in ([(0, "keep", -1, 0, spec[3])], [(0, {"a": "date"}, -1, 0, spec[3])]):
        with pytest.raises(ValueError, match="fast path"):
            c.block(GOOD, 2, cols)
    with pytest.raises(TypeError):
        c.block(GOOD, 2, [(0, "email")])
    assert c.drain() == b""
    assert c.block(b"", 3, [(1, *spec)]) == b"" and c.drain() == b""
    assert mask_block(b"", [(1, m)], 3, Prints()) == b""


def fallback_failing(after: int, result: Callable[[bytes], Any]) -> Callable[[bytes], Any]:
    calls: list[bytes] = []

    def fallback(field: bytes) -> Any:
        calls.append(field)
        if len(calls) > after:
            return result(field)
        return b"ok"

    return fallback


class Boom(Exception):
    pass


def boom(field: bytes) -> bytes:
    raise Boom(field)


@pytest.mark.parametrize("after", [0, 1])
def test_fallback_errors_propagate_and_leave_no_prints(after: int) -> None:
    c = masker("email", True).accelerator
    block = b"ann@b.test\t1\n\xc3\xa9@b.test\t2\nbob@b.test\t3\n\xc3\xa9e@b.test\t4\nz@b.test\t5\n"
    with pytest.raises(Boom):
        c.block(block, 2, [(0, "email", -1, 0, fallback_failing(after, boom))])
    assert c.drain() == b""
    with pytest.raises(TypeError, match="bytes"):
        c.block(block, 2, [(0, "email", -1, 0, fallback_failing(after, bytes.decode))])
    assert c.drain() == b""
    assert len(c.block(block, 2, [(0, "email", -1, 0, lambda f: b"x")])) > 0
    assert len(c.drain()) == 8 * 3  # the plain e-mails, after all that


# ---- 3. mixed maskers ----


def test_a_column_without_c_takes_the_python_path() -> None:
    rules: Rules = [
        (0, "email", None), (1, {"mask": "constant", "value": "someone"}, None),
        (3, {"mask": "json", "keys": {"email": "email"}}, None), (4, "date", None),
    ]  # fmt: skip
    rows = [[b"a%d@b.test" % i, b"Ann %d" % i, b"%d" % i, b'{"email": "x%d@y.test"}' % i,
             b"2021-03-04"] for i in range(50)]  # fmt: skip
    out = both(rules, rows_block(rows), 5, c_only=False)
    assert out.count(b"\tsomeone\t") == 50 and b"@b.test" not in out and b"x1@y" not in out


def test_maskers_under_two_keys() -> None:
    block = rows_block([[b"ann%d@b.test" % i, b"ann%d@b.test" % i, b"k"] for i in range(40)])
    masked = [(0, masker("email", True)), (1, masker("email", True, key=OTHER))]
    prints = Prints()
    out = [row.split(b"\t") for row in mask_block(block, masked, 3, prints).splitlines()]
    alone = [(0, masker("email", False)), (1, masker("email", False, key=OTHER))]
    reference = Prints()
    assert mask_block(block, alone, 3, reference) == rows_block(out)
    assert set(prints.values) == set(reference.values) and len(set(prints.values)) == 80
    assert all(a != b for a, b, _ in out)
    other = masker("email", True, key=OTHER)
    assert [b for _, b, _ in out] == other.apply_fields([b"ann%d@b.test" % i for i in range(40)],
                                                        Prints())  # fmt: skip


# ---- 4. a big block ----


def test_big_block_equals_python() -> None:
    rows = []
    for i in range(20_000):
        name = b"Z\xc3\xbcrich %d" % i if i % 97 == 0 else b"Ann Lee %d" % (i % 3000)
        note = b"Call ann%d@b.test\\tnow" % i if i % 89 == 0 else b"Some text for row %d" % i
        doc = b'{"email": "u%d@s.test", "tags": ["a", 1]}' % i
        ip, day = b"10.1.%d.%d" % (i % 256, i % 7), b"2020-02-%02d" % (1 + i % 29)
        rows.append([b"%d" % i, b"user%d@shop.test" % i, name, note, ip, doc, day])
    block = rows_block(rows)
    assert len(block) > 1_900_000
    rules: Rules = [
        (1, "email", None), (2, "name", 20), (3, "text", None), (4, "ip", None),
        (5, {"mask": "json", "keys": JSON_KEYS}, None), (6, "date", None),
    ]  # fmt: skip
    out = both(rules, block, 7)
    assert out.count(b"\n") == 20_000 and b"shop.test" not in out
