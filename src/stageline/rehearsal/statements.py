"""What a DDL statement does to each table it names, read from its text. Pure.

The rehearsal measures *whether* a table was rewritten or read in full (file nodes,
scan statistics) and *which* locks the migrating session held (sampled); this module
says *which statement* could have done it and with which lock, so the two are joined:
a lock shorter than a sample is still known from the statement log, and a scan is
charged to the statement that can scan.

``effects(sql)`` gives one ``Effect`` per table: the lock the statement takes there
(PostgreSQL's documented lock of the command), and the work it may do in proportion to
the table:

============================================  =======================  ===========
statement                                     lock                     work
============================================  =======================  ===========
CREATE [UNIQUE] INDEX ON t                    ShareLock                build
CREATE INDEX CONCURRENTLY ON t                ShareUpdateExclusiveLock build (online)
ALTER TABLE t ADD ... FOREIGN KEY REFERENCES  ShareRowExclusiveLock    scan (t),
r                                             on t and r               none if NOT VALID
ALTER TABLE t ADD CONSTRAINT ... CHECK        AccessExclusiveLock      scan, none if NOT VALID
ALTER TABLE t ADD PRIMARY KEY / UNIQUE        AccessExclusiveLock      build (none USING INDEX)
ALTER TABLE t VALIDATE CONSTRAINT             ShareUpdateExclusiveLock scan (online)
ALTER TABLE t ALTER ... SET NOT NULL          AccessExclusiveLock      scan?
ALTER TABLE t ALTER ... TYPE                  AccessExclusiveLock      rewrite?
ALTER TABLE t ADD COLUMN ... DEFAULT/identity  AccessExclusiveLock      rewrite?
ALTER TABLE t (anything else)                 AccessExclusiveLock      none
TRUNCATE t / VACUUM FULL t / CLUSTER t        AccessExclusiveLock      rewrite
DROP TABLE t                                  AccessExclusiveLock      none
CREATE TABLE ... REFERENCES r                 ShareRowExclusiveLock    none (on r)
UPDATE t / DELETE FROM t                      RowExclusiveLock         scan?
LOCK TABLE t IN m MODE                        m                        none
============================================  =======================  ===========

A "?" marks work that depends on the data or the types (``SET NOT NULL`` skips the scan
when a valid ``CHECK (c IS NOT NULL)`` exists; ``int`` to ``bigint`` rewrites, ``varchar``
to ``text`` does not): ``certain`` is False there and the measurement decides.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Work = Literal["none", "scan", "build", "rewrite"]

SHARE = "ShareLock"
SRE = "ShareRowExclusiveLock"
SUE = "ShareUpdateExclusiveLock"
AEL = "AccessExclusiveLock"
ROW_EXCLUSIVE = "RowExclusiveLock"


@dataclass(frozen=True)
class Effect:
    table: str
    mode: str
    work: Work = "none"
    #: False when the work depends on the data or the types (the measurement decides)
    certain: bool = True


_NAME = r'((?:"[^"]+"|[\w$]+)(?:\.(?:"[^"]+"|[\w$]+))?)'
_INDEX = re.compile(
    rf"^CREATE\s+(?:UNIQUE\s+)?INDEX\s+(CONCURRENTLY\s+)?(?:IF\s+NOT\s+EXISTS\s+)?"
    rf"(?:{_NAME}\s+)?ON\s+(?:ONLY\s+)?{_NAME}",
    re.IGNORECASE,
)
_ALTER = re.compile(
    rf"^ALTER\s+TABLE\s+(?:IF\s+EXISTS\s+)?(?:ONLY\s+)?{_NAME}\s*(.*)$", re.I | re.S
)
_REFERENCES = re.compile(rf"REFERENCES\s+{_NAME}", re.IGNORECASE)
_CREATE_TABLE = re.compile(r"^CREATE\s+(?:UNLOGGED\s+)?TABLE\b", re.IGNORECASE)
_LIST = re.compile(
    r"^(TRUNCATE|DROP\s+TABLE|VACUUM\s*\(?\s*FULL\)?|CLUSTER|LOCK)\s+(?:TABLE\s+)?"
    r"(?:IF\s+EXISTS\s+)?(?:ONLY\s+)?(.*)$",
    re.IGNORECASE | re.DOTALL,
)
_LIST_END = re.compile(r"\b(?:IN|RESTART|CONTINUE|CASCADE|RESTRICT|USING)\b", re.IGNORECASE)
_DML = re.compile(rf"^(UPDATE|DELETE\s+FROM)\s+(?:ONLY\s+)?{_NAME}", re.IGNORECASE)
_LOCK_MODE = re.compile(r"\bIN\s+([A-Z ]+?)\s+MODE", re.IGNORECASE)
_VOLATILE = re.compile(
    r"\b(GENERATED\s+(ALWAYS|BY\s+DEFAULT)\s+AS|SERIAL|BIGSERIAL|SMALLSERIAL|DEFAULT)\b", re.I
)


def table_name(raw: str) -> str:
    """``public.orders``, ``"Orders"`` -> the name the tracer uses (no ``public.``)."""
    parts = [p.strip('"') if p.startswith('"') else p.lower() for p in raw.split(".")]
    if len(parts) == 2 and parts[0] == "public":
        parts = parts[1:]
    return ".".join(parts)


def clean(sql: str) -> str:
    """The statement without comments, on one line, without its trailing semicolon."""
    text = re.sub(r"--[^\n]*", " ", sql)
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.DOTALL)
    return " ".join(text.split()).rstrip(";").strip()


def effects(sql: str) -> list[Effect]:
    """Per table, the lock ``sql`` takes and the work it may do (see the table above)."""
    text = clean(sql)
    found = _INDEX.match(text)
    if found:
        table = table_name(found.group(3))
        if found.group(1):
            return [Effect(table, SUE, "build")]
        return [Effect(table, SHARE, "build")]
    found = _ALTER.match(text)
    if found:
        return _alter(table_name(found.group(1)), found.group(2))
    found = _LIST.match(text)
    if found:
        verb = found.group(1).upper().split()[0]
        rest = _LIST_END.split(found.group(2), maxsplit=1)[0]
        tables = [table_name(t.strip()) for t in rest.split(",") if t.strip()]
        if verb == "LOCK":
            mode = _LOCK_MODE.search(text)
            words = (mode.group(1) if mode else "ACCESS EXCLUSIVE").title().split()
            return [Effect(t, "".join(words) + "Lock") for t in tables]
        work: Work = "none" if verb == "DROP" else "rewrite"
        return [Effect(t, AEL, work) for t in tables]
    if _CREATE_TABLE.match(text):  # a new table's foreign keys lock what they reference
        return [Effect(table_name(r), SRE) for r in _REFERENCES.findall(text)]
    found = _DML.match(text)
    if found:
        return [Effect(table_name(found.group(2)), ROW_EXCLUSIVE, "scan", certain=False)]
    return []


def _alter(table: str, rest: str) -> list[Effect]:
    upper = rest.upper()
    not_valid = "NOT VALID" in upper
    if upper.startswith("VALIDATE CONSTRAINT"):
        return [Effect(table, SUE, "scan")]
    if "FOREIGN KEY" in upper and upper.startswith("ADD"):
        ref = _REFERENCES.search(rest)
        work: Work = "none" if not_valid else "scan"
        found = [Effect(table, SRE, work)]
        if ref and table_name(ref.group(1)) != table:
            found.append(Effect(table_name(ref.group(1)), SRE, work))
        return found
    if upper.startswith("ADD") and re.search(r"\bCHECK\b", upper):
        return [Effect(table, AEL, "none" if not_valid else "scan")]
    if upper.startswith("ADD") and re.search(r"\b(PRIMARY\s+KEY|UNIQUE|EXCLUDE)\b", upper):
        return [Effect(table, AEL, "none" if "USING INDEX" in upper else "build")]
    if re.search(r"\bTYPE\b", upper) and "ALTER" in upper:
        return [Effect(table, AEL, "rewrite", certain=False)]
    if re.search(r"\bSET\s+NOT\s+NULL\b", upper):
        return [Effect(table, AEL, "scan", certain=False)]
    if upper.startswith("ADD") and _VOLATILE.search(upper) and "SET DEFAULT" not in upper:
        return [Effect(table, AEL, "rewrite", certain=False)]
    if upper.startswith(("SET (", "SET(", "RESET", "ATTACH PARTITION", "SET STATISTICS")):
        return [Effect(table, SUE)]
    return [Effect(table, AEL)]
