"""A suggested rule for one column, from its name, its type and a sample of its values.

Pure. What ``stageline snapshot plan --write`` drafts from: masks for columns whose names
or sampled values look personal (e-mail addresses, people's names, phones, IP
addresses, street addresses, free text, tokens and secrets), ``keep`` for ids, foreign
keys, timestamps, numbers, enums and short labels. The sampled values only steer the
choice: a :class:`Suggestion` carries a fixed reason, never a value.

A suggestion always fits its column (:func:`stageline.data.plan.problem_of` finds
nothing wrong): a unique or key column that looks personal gets ``hash`` (or ``email``),
never a fake that could repeat; ``null`` only where NULL is allowed.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from stageline.data.catalog import DATE_TYPES, INET_TYPES, Column
from stageline.data.masking import EMAIL_RE as EMAIL
from stageline.data.plan import problem_of
from stageline.data.rules import UNIQUE_SAFE, ColumnRule

PHONE = re.compile(r"\+?[\d\s().\-/]{7,24}")
PERSON = re.compile(r"[A-Z][a-z'\u2019\-]+(?: [A-Z][a-z'\u2019\-]+){1,2}")
TOKEN = re.compile(r"[A-Za-z0-9_\-+/=.:$]{20,}")
#: the share of sampled values that must look alike for the values to decide
MOST = 0.8

# (tokens of a column's name that say what it holds, the mask, the reason)
_BY_NAME: tuple[tuple[frozenset[str], str, str], ...] = (
    (frozenset({"email", "mail", "emails"}), "email", "named like an e-mail address"),
    (frozenset({"phone", "mobile", "telephone", "tel", "fax", "msisdn", "cell"}), "phone",
     "named like a phone number"),
    (frozenset({"ip", "ipaddr", "ipv4", "ipv6"}), "ip", "named like an IP address"),
    (frozenset({"street", "address", "addr", "address1", "address2", "line1", "line2"}),
     "address", "named like a street address"),
    (frozenset({"city", "town", "postcode", "zip", "zipcode", "postal"}), "redact",
     "named like part of an address"),
    (frozenset({"firstname", "lastname", "fullname", "surname", "forename", "nickname",
                "username", "login"}), "name", "named like a person's name"),
    (frozenset({"token", "secret", "password", "passwd", "salt", "otp", "nonce", "apikey",
                "signature", "credential", "credentials"}), "hash",
     "named like a token or a secret"),
    (frozenset({"passport", "ssn", "iban", "nino", "taxid", "vat", "licence", "license"}),
     "hash", "named like an identity or account number"),
    (frozenset({"agent", "useragent"}), "redact", "named like a user agent"),
    (frozenset({"note", "notes", "comment", "comments", "message", "body", "bio", "about",
                "description", "remarks", "feedback", "content", "text", "details",
                "instructions", "reason"}), "text", "named like free text"),
)  # fmt: skip
_PERSON_QUALIFIERS = frozenset(
    {"first", "last", "full", "given", "family", "middle", "display", "contact", "customer",
     "user", "maiden", "legal", "billing", "shipping", "owner", "recipient", "sender"}
)  # fmt: skip
_BIRTH = frozenset({"birth", "born", "dob", "birthday", "birthdate"})
_ID = frozenset({"id", "uuid", "pk", "fk", "guid"})


@dataclass(frozen=True)
class Suggestion:
    rule: ColumnRule
    #: why, in a few words; never a value
    reason: str
    #: a guess to check by hand (nothing to sample, say): never folded into a default
    review: bool = False


def name_words(name: str) -> list[str]:
    """``"customerEmail_2"`` -> ``["customer", "email", "2"]``."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name)
    return [w.lower() for w in re.split(r"[^A-Za-z0-9]+", spaced) if w]


def _tokens(words: list[str]) -> list[str]:
    """The words and each pair of neighbours joined (``first_name``: ``firstname``)."""
    return words + [a + b for a, b in pairwise(words)]


def _rule(mask: str) -> ColumnRule:
    return ColumnRule.model_validate(mask)


def suggest(column: Column, samples: Sequence[str]) -> Suggestion:
    """The rule drafted for ``column``, given up to a few hundred of its non-NULL values
    as text (an empty sample when the table is empty)."""
    return _fit(column, _guess(column, samples))


def _guess(column: Column, samples: Sequence[str]) -> Suggestion:
    words = name_words(column.name)
    tokens = _tokens(words)
    if column.base in DATE_TYPES:
        if _BIRTH.intersection(tokens):
            return Suggestion(ColumnRule(mask="date", days=180), "named like a birth date")
        return _keep("a date or a time")
    if column.base in INET_TYPES:
        return Suggestion(ColumnRule(mask="ip"), "an IP address")
    if column.is_json:
        return _json(samples)
    by_name = _by_name(words)
    if not column.is_text:
        if by_name is None:
            return _keep(f"{column.type}: not text")
        if not column.keyed and not column.not_null:
            return Suggestion(ColumnRule(mask="null"), by_name.reason + f", but {column.type}")
        return _keep(by_name.reason + f", but {column.type}: review", review=True)
    if _ID.intersection(words[-1:]):
        return _keep("named like an id")
    if by_name is not None:
        return by_name
    by_values = _by_values(samples)
    if by_values is not None:
        return by_values
    if not samples:
        return _keep("no values to sample: review", review=True)
    if "name" in tokens:
        return _keep("a name of a thing, by its values")
    return _keep("short codes or labels, by its values")


def _keep(reason: str, *, review: bool = False) -> Suggestion:
    return Suggestion(ColumnRule(mask="keep"), reason, review)


def _by_name(words: list[str]) -> Suggestion | None:
    """What the words of a name say the column holds; None for an id
    (``customer_email_id``) or a name that says nothing."""
    if _ID.intersection(words[-1:]):
        return None
    tokens = _tokens(words)
    for names, mask, reason in _BY_NAME:
        if names.intersection(tokens):
            return Suggestion(_rule(mask), reason)
    if "name" in tokens and _PERSON_QUALIFIERS.intersection(tokens):
        return Suggestion(ColumnRule(mask="name"), "named like a person's name")
    return None


def _by_values(samples: Sequence[str]) -> Suggestion | None:
    """What most sampled values look like, if they look personal."""
    if not samples:
        return None

    def most(test: Any) -> bool:
        return sum(1 for v in samples if test(v)) >= MOST * len(samples)

    if most(lambda v: EMAIL.fullmatch(v.strip())):
        return Suggestion(ColumnRule(mask="email"), "values look like e-mail addresses")
    if most(_is_ip):
        return Suggestion(ColumnRule(mask="ip"), "values look like IP addresses")
    if most(lambda v: PHONE.fullmatch(v.strip()) and sum(c.isdigit() for c in v) >= 7):
        return Suggestion(ColumnRule(mask="phone"), "values look like phone numbers")
    if most(lambda v: PERSON.fullmatch(v.strip())):
        return Suggestion(ColumnRule(mask="name"), "values look like people's names")
    if most(lambda v: TOKEN.fullmatch(v) and any(c.isdigit() for c in v)):
        return Suggestion(ColumnRule(mask="hash"), "values look like tokens")
    if any(EMAIL.search(v) for v in samples):
        return Suggestion(ColumnRule(mask="text"), "values hold e-mail addresses")
    if sum(len(v) for v in samples) >= 30 * len(samples) and most(lambda v: " " in v.strip()):
        return Suggestion(ColumnRule(mask="text"), "values look like free text")
    return None


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_interface(value.strip())
    except ValueError:
        return False
    return True


def _json(samples: Sequence[str]) -> Suggestion:
    """A ``json`` rule naming the keys (at any depth) whose names or values look
    personal, or ``keep`` when none do."""
    keys: dict[str, str] = {}
    for sample in samples:
        try:
            doc = json.loads(sample)
        except ValueError:
            continue
        for key, values in _pairs(doc):
            if key in keys:
                continue
            found = _by_name(name_words(key)) or _by_values(values)
            if found is not None and found.rule.mask != "keep":
                keys[key] = found.rule.mask
    if not keys:
        if not samples:
            return _keep("json, no values to sample: review", review=True)
        return _keep("json: no key looked personal")
    rule = ColumnRule.model_validate({"mask": "json", "keys": keys})
    return Suggestion(rule, "json: keys that look personal")


def _pairs(node: Any) -> Iterator[tuple[str, list[str]]]:
    """Every key of a JSON document, at any depth, with the strings under it."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield key, list(_strings(value))
            yield from _pairs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _pairs(item)


def _strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from _strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from _strings(item)


def _fit(column: Column, guess: Suggestion) -> Suggestion:
    """``guess`` made to fit its column: a key gets a mask that stays unique; what
    still cannot work on the column's type is kept, marked for review."""
    mask = guess.rule.mask
    if column.keyed and mask not in UNIQUE_SAFE and column.is_text:
        guess = Suggestion(ColumnRule(mask="hash"), guess.reason + "; unique, so hashed")
    problem = problem_of(column, guess.rule)
    if problem is None:
        return guess
    return _keep(f"{guess.reason}, but the column {problem.split(';')[0]}: review", review=True)
