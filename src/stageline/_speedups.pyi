"""Types of the C masks (src/stageline/_speedups.c)."""

from collections.abc import Callable, Mapping
from typing import Any

class Masker:
    def __init__(self, key: bytes, words: tuple[tuple[str, ...], ...]) -> None: ...
    def column(
        self, kind: str, fields: list[bytes], limit: int, days: int
    ) -> list[bytes | None]: ...
    def one(self, kind: str, value: str) -> str | None: ...
    def json_column(self, keys: Mapping[str, str], fields: list[bytes]) -> list[bytes | None]: ...
    def block(
        self,
        block: bytes,
        width: int,
        columns: list[tuple[int, str | Mapping[str, str], int, int, Callable[[bytes], bytes]]],
    ) -> bytes: ...
    def scan(
        self,
        block: bytes,
        columns: list[tuple[bool, Callable[[bytes], bool]]],
        sets: list[Any],
    ) -> tuple[int, list[int]]: ...
    def drain(self) -> bytes: ...

def sort_unique(packed: bytes | bytearray | memoryview | object) -> bytes: ...
