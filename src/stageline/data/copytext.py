"""PostgreSQL's COPY text format, one field at a time: ``\\N`` is NULL; backslash, tab,
newline and carriage return are escaped; a reader also meets octal and hex escapes."""

from __future__ import annotations

import re

NULL = b"\\N"
_ESCAPE = re.compile(rb"\\(?:([0-7]{1,3})|x([0-9A-Fa-f]{1,2})|(.))", re.S)
_SIMPLE = {b"b": b"\b", b"f": b"\f", b"n": b"\n", b"r": b"\r", b"t": b"\t", b"v": b"\v"}


def _unescape_one(match: re.Match[bytes]) -> bytes:
    octal, hexa, char = match.groups()
    if octal is not None:
        return bytes([int(octal, 8) & 0xFF])
    if hexa is not None:
        return bytes([int(hexa, 16)])
    return _SIMPLE.get(char, char)


def decode_field(field: bytes) -> str:
    """A COPY text field (not ``\\N``) as the value it stands for."""
    if b"\\" not in field:
        return field.decode("utf-8", "surrogateescape")
    return _ESCAPE.sub(_unescape_one, field).decode("utf-8", "surrogateescape")


def encode_field(value: str | None) -> bytes:
    """A value as a COPY text field (None: ``\\N``)."""
    if value is None:
        return NULL
    if "\\" in value or "\n" in value or "\r" in value or "\t" in value:
        value = (
            value.replace("\\", "\\\\")
            .replace("\n", "\\n")
            .replace("\r", "\\r")
            .replace("\t", "\\t")
        )
    return value.encode("utf-8", "surrogateescape")
