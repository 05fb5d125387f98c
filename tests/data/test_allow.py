"""The pii-scan allow-list's pure parts: entries, splitting findings, fingerprint sets."""

from __future__ import annotations

from stageline.data.allow import Allowed, AllowEntry, by_column, by_value, summary
from stageline.data.fingerprints import Fingerprints, FingerprintSet
from stageline.data.masking import MaskingKey
from stageline.data.scan import Finding

KEY = MaskingKey(b"k" * 32)


def _entry(**data: str) -> AllowEntry:
    return AllowEntry.model_validate(data)


def test_entries_know_their_forms_and_labels() -> None:
    ip = _entry(**{"class": "ip", "value": "::1", "reason": "local"})
    assert ip.forms() == ["::1", "::1/128"] and ip.label == "ip ::1: local"
    text = _entry(**{"class": "text", "value": "curl/8.5.0", "reason": "smoke"})
    assert text.forms() == ["curl/8.5.0"]
    column = _entry(column="audit.log.actor", reason="service accounts")
    assert column.forms() == [] and column.label == "column audit.log.actor: service accounts"


def test_findings_split_by_column_then_by_value() -> None:
    findings = [Finding("requests", "user_agent", 2), Finding("requests", "client_ip", 5)]
    entries = [_entry(column="requests.user_agent", reason="software names")]
    rest, allowed = by_column(findings, entries)
    assert rest == [Finding("requests", "client_ip", 5)]
    assert allowed == [Allowed("requests", "user_agent", 2, ("column requests.user_agent: "
                                                             "software names",))]  # fmt: skip
    left, by_ip = by_value(rest, {("requests", "client_ip"): 1}, ("ip 127.0.0.1: smoke",))
    assert left == [Finding("requests", "client_ip", 1)]
    assert by_ip == [Allowed("requests", "client_ip", 4, ("ip 127.0.0.1: smoke",))]
    left, by_ip = by_value(rest, {}, ("ip 127.0.0.1: smoke",))
    assert left == [] and by_ip[0].count == 5
    assert summary(allowed + by_ip) == ("allowed: requests.user_agent (2), requests.client_ip (5)")
    assert summary([]) == ""


def test_fingerprint_sets_without_some_values() -> None:
    part = Fingerprints.from_set(KEY, {1, 5, 9, 2**64 - 1})
    assert list(part.without({5, 7, 2**64 - 1}).values) == [1, 9]
    both = FingerprintSet([part, Fingerprints.from_set(KEY, {5, 6})]).without({5})
    assert 5 not in both and 6 in both and 9 in both and len(both) == 4
