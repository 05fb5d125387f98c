"""The Redactor: whole texts, streams split anywhere, overlapping and empty secrets."""

from __future__ import annotations

import itertools
import random

from hypothesis import given
from hypothesis import strategies as st

from stageline.redact import Redactor

SECRETS = {"API_KEY": "sk_live_abc123", "DB_PASSWORD": "hunter2", "EMPTY": ""}


def stream(redactor: Redactor, chunks: list[bytes]) -> bytes:
    return b"".join(redactor.feed(chunk) for chunk in chunks) + redactor.flush()


def test_scrub_masks_every_occurrence_with_its_name() -> None:
    text = "key=sk_live_abc123 pw=hunter2 again sk_live_abc123"
    assert Redactor(SECRETS).scrub(text) == (
        "key=[secret:API_KEY] pw=[secret:DB_PASSWORD] again [secret:API_KEY]"
    )


def test_empty_values_are_ignored() -> None:
    redactor = Redactor({"EMPTY": ""})
    assert not redactor.active
    assert redactor.scrub("nothing to hide") == "nothing to hide"
    assert stream(redactor, [b"abc", b"def"]) == b"abcdef"


def test_a_value_split_at_every_position_is_masked() -> None:
    data = b"before sk_live_abc123 middle hunter2 after"
    expected = b"before [secret:API_KEY] middle [secret:DB_PASSWORD] after"
    for cut in range(len(data) + 1):
        assert stream(Redactor(SECRETS), [data[:cut], data[cut:]]) == expected, cut
    for size in (1, 2, 3, 5):
        chunks = [data[i : i + size] for i in range(0, len(data), size)]
        assert stream(Redactor(SECRETS), chunks) == expected, size


def test_overlapping_secrets_longest_wins() -> None:
    redactor = Redactor({"SHORT": "abc", "LONG": "abcdef", "TAIL": "defgh"})
    assert redactor.scrub("xabcdefx") == "x[secret:LONG]x"
    assert redactor.scrub("xabcx") == "x[secret:SHORT]x"
    # split right after the short one: it must not be masked as SHORT too early
    for cut in range(1, 8):
        data = b"xabcdefx"
        assert stream(Redactor(redactor_secrets()), [data[:cut], data[cut:]]) == (
            b"x[secret:LONG]x"
        )


def redactor_secrets() -> dict[str, str]:
    return {"SHORT": "abc", "LONG": "abcdef", "TAIL": "defgh"}


def test_nothing_is_held_back_without_a_partial_match() -> None:
    redactor = Redactor(SECRETS)
    assert redactor.feed(b"plain line\n") == b"plain line\n"
    assert redactor.feed(b"ends with sk_li") == b"ends with "
    assert redactor.feed(b"ve_abc123!") == b"[secret:API_KEY]!"
    assert redactor.feed(b"hunt") == b""
    assert redactor.flush() == b"hunt"


def test_same_name_in_two_environments_masks_both_values() -> None:
    redactor = Redactor([("KEY", "staging-value"), ("KEY", "production-value")])
    assert redactor.scrub("staging-value production-value") == "[secret:KEY] [secret:KEY]"


def test_scrub_value_walks_json() -> None:
    redactor = Redactor(SECRETS)
    value = {"out": ["x hunter2"], "hunter2": 3, "n": None}
    assert redactor.scrub_value(value) == {
        "out": ["x [secret:DB_PASSWORD]"],
        "[secret:DB_PASSWORD]": 3,
        "n": None,
    }


@given(
    secrets=st.lists(st.binary(min_size=1, max_size=6), min_size=1, max_size=4),
    pieces=st.lists(st.binary(max_size=8), max_size=12),
    seed=st.integers(0, 2**16),
)
def test_streaming_equals_scrubbing_the_whole(
    secrets: list[bytes], pieces: list[bytes], seed: int
) -> None:
    names = {f"S{i}": s.decode("latin-1") for i, s in enumerate(secrets)}
    encoded = {k: v for k, v in names.items()}
    chooser = random.Random(seed)
    data = b"".join(
        piece + (secrets[chooser.randrange(len(secrets))] if chooser.random() < 0.5 else b"")
        for piece in pieces
    )
    data = data.decode("latin-1").encode()
    whole = Redactor(encoded).scrub_bytes(data)
    cuts = sorted(chooser.sample(range(len(data) + 1), min(len(data) + 1, 4)))
    chunks = [data[a:b] for a, b in itertools.pairwise([0, *cuts, len(data)])]
    assert stream(Redactor(encoded), chunks) == whole
