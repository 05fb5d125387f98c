"""Pure parts: transformers, the COPY codec, rules, the plan's problems, fingerprints."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from pydantic import ValidationError

from stageline.data.catalog import Column, Table
from stageline.data.fingerprints import Fingerprints
from stageline.data.masking import (
    ColumnMasker,
    KeyedHash,
    MaskingKey,
    Prints,
    candidates,
    fingerprint,
    normalize,
    shift_date,
)
from stageline.data.plan import check, make_plan
from stageline.data.rules import ColumnRule, DataRules
from stageline.data.stream import decode_field, encode_field, mask_block
from stageline.errors import Refused

KEY = MaskingKey(b"k" * 32)
OTHER = MaskingKey(b"o" * 32)


def masker(rule: object, key: MaskingKey = KEY, max_length: int | None = None) -> ColumnMasker:
    return ColumnMasker(ColumnRule.model_validate(rule), key, max_length)


def printed(prints: Prints) -> set[int]:
    return set(prints.values)


def prints_of(*values: str) -> set[int]:
    """The fingerprints the leak scan would look each value up by."""
    return {fingerprint(KeyedHash(KEY.mask), normalize(v)) for v in values}


@pytest.mark.parametrize("mask", ["hash", "email", "name", "phone", "address", "text", "ip"])
def test_same_key_same_output_other_key_other_output(mask: str) -> None:
    value = "192.0.2.7" if mask == "ip" else "Margarethe Quackenbush <mq@realmail.test>"
    first = masker(mask).apply(value)
    assert first == masker(mask).apply(value)
    assert first != masker(mask, OTHER).apply(value)
    assert first != value


def test_email_and_hash_stay_unique() -> None:
    emails = {masker("email").apply(f"user{i}@real.test") for i in range(20000)}
    hashes = {masker("hash").apply(f"user{i}") for i in range(20000)}
    assert len(emails) == 20000 and len(hashes) == 20000
    assert all(e is not None and e.split("@")[1].startswith("example.") for e in emails)


@pytest.mark.parametrize("accelerate", [True, False])
def test_fake_ips_never_equal_a_production_address(accelerate: bool) -> None:
    """Fakes come from ranges no host has (240.0.0.0/4, 2001:db8::/32): a production
    database full of private addresses (10/8 behind a proxy, fd00::/8) meets none of
    them, so the leak scan never takes a fake for another user's real address."""
    ip = ColumnMasker(ColumnRule.model_validate("ip"), KEY, None, accelerate=accelerate)
    real4 = [f"10.0.{i // 256}.{i % 256}" for i in range(65536)]
    real6 = [f"fd00::{i:x}" for i in range(4096)]
    fakes = ip.apply_fields([r.encode() for r in real4 + real6], Prints())
    assert not {f.decode() for f in fakes} & set(real4 + real6)
    assert len(set(fakes)) > 0.99 * len(fakes)


def test_a_constant_already_in_production_is_not_taken_for_a_leak() -> None:
    """Rows that hold the constant already must not make every masked row a "leak"."""
    prints = Prints()
    fields = [b"unknown", b"Margarethe Quackenbush", b"unknown"]
    out = masker({"mask": "constant", "value": "unknown"}).apply_fields(fields, prints)
    assert out == [b"unknown"] * 3
    assert printed(prints) == prints_of("Margarethe Quackenbush")


@pytest.mark.parametrize("accelerate", [True, False])
def test_a_value_its_mask_leaves_as_it_is_is_not_taken_for_a_leak(accelerate: bool) -> None:
    """A production value that already reads "[redacted]" is not fingerprinted."""
    redact = ColumnMasker(ColumnRule.model_validate("redact"), KEY, None, accelerate=accelerate)
    prints = Prints()
    out = redact.apply_fields([b"[redacted]", b"Margarethe Quackenbush"], prints)
    assert out == [b"[redacted]", b"[redacted]"]
    assert printed(prints) == prints_of("Margarethe Quackenbush")
    prints = Prints()
    assert redact.apply("[redacted]", prints) == "[redacted]" and not printed(prints)


def test_fake_values_look_like_their_kind() -> None:
    phone = masker("phone").apply("+44 20 7946 0000")
    assert phone is not None and "-555-01" in phone
    ip4, ip6 = masker("ip").apply("203.0.113.9"), masker("ip").apply("2001:db8::1")
    assert ip4 is not None and 240 <= int(ip4.split(".")[0]) <= 255
    assert ip6 is not None and ip6.startswith("2001:db8:")
    assert masker("null").apply("x") is None
    assert masker({"mask": "constant", "value": "c"}).apply("anything") == "c"
    assert masker("keep").apply("same") == "same"
    assert (
        masker("email", max_length=12).apply("a@b.test") == masker("email").apply("a@b.test")[:12]
    )  # type: ignore[index]


def test_date_shift_stays_within_range_and_keeps_time() -> None:
    for day in range(1, 28):
        value = f"2020-02-{day:02d} 10:11:12.5+00"
        out = shift_date(value, KEY.mask[:4] + bytes([day]), 10)
        assert out.endswith(" 10:11:12.5+00")
        assert abs((date.fromisoformat(out[:10]) - date(2020, 2, day)).days) <= 10
    assert shift_date("infinity", b"\x00" * 4, 5) == "infinity"
    rule = masker({"mask": "date", "days": 3})
    assert rule.apply("2001-01-01") == rule.apply("2001-01-01")


def test_json_masks_chosen_keys_at_any_depth_and_reports_them() -> None:
    rule = masker({"mask": "json", "keys": {"email": "email", "street": "address"}})
    doc = {"email": "a@real.test", "n": 1, "home": [{"street": "1 Real Rd", "zip": "X1"}]}
    prints = Prints()
    out = json.loads(rule.apply(json.dumps(doc), prints) or "")
    assert out["n"] == 1 and out["home"][0]["zip"] == "X1"
    assert out["email"] != "a@real.test" and out["home"][0]["street"] != "1 Real Rd"
    assert printed(prints) == prints_of("1 Real Rd", "a@real.test")
    assert rule.apply("not json") == "null"


@pytest.mark.parametrize(
    "value", ["plain", "tab\there", "new\nline", "back\\slash", "cr\r", "", "ünïcödé"]
)
def test_copy_codec_round_trips(value: str) -> None:
    encoded = encode_field(value)
    assert b"\t" not in encoded and b"\n" not in encoded
    assert decode_field(encoded) == value


def test_copy_decode_handles_octal_and_hex_escapes() -> None:
    assert decode_field(b"a\\101\\x42\\b") == "aAB\b"


def test_mask_block_masks_only_masked_fields_and_keeps_nulls() -> None:
    block = b"1\tsecret@real.test\tkept\\tvalue\n2\t\\N\t\n"
    prints = Prints()
    out = mask_block(block, [(1, masker("email"))], 3, prints)
    lines = out.split(b"\n")
    assert len(lines) == 3 and lines[-1] == b""
    first = lines[0].split(b"\t")
    assert first[0] == b"1" and first[2] == b"kept\\tvalue"
    assert first[1].endswith((b".com", b".net", b".org", b".invalid"))
    assert lines[1] == b"2\t\\N\t"
    assert printed(prints) == prints_of("secret@real.test")


def test_mask_block_keeps_empty_rows_of_a_single_column_table() -> None:
    out = mask_block(b"\nabcd\n", [(0, masker("hash"))], 1, Prints())
    lines = out.split(b"\n")
    assert len(lines) == 3 and len(lines[0]) == 32 and len(lines[1]) == 32


def test_rules_validation() -> None:
    rules = DataRules.model_validate(
        {"tables": {"users": {"id": "keep", "c": {"mask": "constant", "value": "x"}}}}
    )
    assert rules.rule("users", "c") == ColumnRule(mask="constant", value="x")
    assert rules.digest.startswith("sha256:")
    assert rules.digest != DataRules().digest
    for bad in (
        {"tables": {"t": {"c": "emial"}}},
        {"tables": {"t": {"c": "constant"}}},
        {"tables": {"t": {"c": {"mask": "json"}}}},
        {"tables": {"t": {"c": {"mask": "hash", "keys": {"a": "email"}}}}},
        {"keep": 0},
        {"key": "vault:x"},
    ):
        with pytest.raises(ValidationError):
            DataRules.model_validate(bad)


def _col(name: str, base: str = "text", *, keyed: bool = False, not_null: bool = False) -> Column:
    return Column(name, base, base, not_null, None, keyed)


def test_plan_fails_closed_and_names_every_problem() -> None:
    tables = [
        Table(
            "public",
            "users",
            (
                _col("id", "int8", keyed=True),
                _col("email", keyed=True),
                _col("name", not_null=True),
                _col("added"),
            ),
        ),
        Table("audit", "log", (_col("id", "int4"),)),
    ]
    rules = DataRules.model_validate(
        {
            "tables": {
                "users": {"id": "keep", "email": "name", "name": "null", "gone": "keep"},
                "audit.log": {"id": "email"},
                "old": {"x": "keep"},
            }
        }
    )
    plan = make_plan(tables, rules)
    problems = plan.problems
    assert any(p.startswith("users.email: is unique") for p in problems)
    assert any(p.startswith("users.name: is NOT NULL") for p in problems)
    assert "users.added: not classified" in problems
    assert any(p.startswith("audit.log.id: is int4") for p in problems)
    assert plan.unclassified == ["users.added"]
    assert set(plan.unused) == {"old", "users.gone"}
    with pytest.raises(Refused, match=r"users\.added") as caught:
        check(plan, "production")
    assert caught.value.hint is not None and "data.tables.users table" in caught.value.hint


def test_plan_passthrough_and_schema_only() -> None:
    tables = [Table("public", "p", (_col("id", "int4"),)), Table("public", "s", (_col("t"),))]
    rules = DataRules.model_validate({"tables": {"p": {"id": "keep"}}, "schema_only": ["s"]})
    plan = make_plan(tables, rules)
    assert plan.problems == []
    assert [t.passthrough for t in plan.tables] == [True, True]
    assert plan.tables[1].schema_only


def test_candidates_skip_short_and_fake_values_and_find_emails_inside() -> None:
    assert candidates("abc") == []
    assert candidates("ada.weber.x@example.com") == []
    assert candidates("Ada Weber") == []
    assert candidates("  Bob@Real.TEST ") == ["bob@real.test"]
    assert "bob@real.test" in candidates("write to bob@real.test please")


def test_fingerprint_file_round_trip(tmp_path: Path) -> None:
    fps = Fingerprints.from_set(KEY, {5, 1, 2**64 - 1})
    fps.write(tmp_path / "f.bin")
    back = Fingerprints.read(tmp_path / "f.bin")
    assert back.key_id == KEY.key_id and list(back.values) == [1, 5, 2**64 - 1]
    assert 5 in back and 4 not in back
    assert KEY.key_id != OTHER.key_id


@pytest.mark.parametrize("mask", ["email", "name", "hash", "text", "null", "redact"])
def test_column_at_once_equals_value_by_value(mask: str) -> None:
    fields = [b"a@real.test", b"\\N", b"tab\\there", b"a@real.test", b"x\\\\y", b""]
    prints = Prints()
    column = masker(mask).apply_fields(fields, prints)
    one = masker(mask)
    expected = [
        f
        if f == b"\\N"
        else (lambda out: b"\\N" if out is None else encode_field(out))(one.apply(decode_field(f)))
        for f in fields
    ]
    assert column == expected
    assert printed(prints) == prints_of("a@real.test", "tab\there")  # "x\\y", "": too short
    truncated = masker(mask, max_length=5).apply_fields(fields, Prints())
    assert all(len(decode_field(f)) <= 5 for f in truncated if f != b"\\N")


def test_fingerprints_are_what_the_leak_scan_looks_up() -> None:
    """The digest a value was masked by doubles as its fingerprint when the value is
    normalized already; otherwise the normalized form is fingerprinted."""
    prints = Prints()
    fields = [b"  Bob@Real.TEST ", b"ana@real.test", b"write to cy@real.test, or call"]
    masker("text").apply_fields(fields, prints)
    expected = prints_of("bob@real.test", "ana@real.test", fields[2].decode(), "cy@real.test")
    assert printed(prints) == expected
    looked_up = {fp for f in fields for fp in prints_of(*candidates(f.decode()))}
    assert looked_up <= printed(prints)


def test_json_key_rules_nest() -> None:
    """A key with a rule of its own keeps it below a masked key; the rest inherits."""
    rule = masker({"mask": "json", "keys": {"contact": "name", "email": "email"}})
    doc = {"contact": {"email": "a@real.test", "nick": "Bobby Real"}, "email": None, "n": [1]}
    out = json.loads(rule.apply(json.dumps(doc)) or "")
    assert out["contact"]["email"] == masker("email").apply("a@real.test")
    assert out["contact"]["nick"] == masker("name").apply("Bobby Real")
    assert out["email"] is None and out["n"] == [1]


def test_mask_block_refuses_rows_of_another_width() -> None:
    with pytest.raises(ValueError, match="3 fields"):
        mask_block(b"1\ta\n2\tb\n", [(1, masker("hash"))], 3, Prints())


def test_prints_travel_between_processes_as_bytes() -> None:
    one, two = Prints(), Prints()
    one.add_string(KeyedHash(KEY.mask), "someone@real.test")
    one.add_string(KeyedHash(KEY.mask), "Other Person")
    two.add_bytes(one.to_bytes())
    two.add_bytes(one.to_bytes())
    assert printed(two) == printed(one) and len(two) == 2 * len(one) == 4
