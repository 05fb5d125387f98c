"""Typed settings: declare every variable once, load them all at start-up.

``Settings(NAME=field, ...)`` declares; ``.load()`` reads the environment once and
returns a read-only :class:`Config`, or raises :class:`SettingsError` listing *every*
problem (one per line), so a misconfigured release fails once, completely explained.
"""

from __future__ import annotations

import enum
import os

from stageline.runtime.environment import TIERS, current

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (~5 ms)
if TYPE_CHECKING:  # annotations only: importing typing at run time costs milliseconds
    from collections.abc import Callable, Iterator, Mapping
    from typing import Any

    _Default = Any  # a value of the field's type, None, or REQUIRED


class _Marker(enum.Enum):
    REQUIRED = "REQUIRED"
    UNSET = "UNSET"

    def __repr__(self) -> str:
        return f"runtime.{self.value}"


#: marks a setting (or one tier's value of it) as required: it must be set in the environment
REQUIRED = _Marker.REQUIRED
_UNSET = _Marker.UNSET

MASK = "****"


class SettingsError(ValueError):
    """Settings that could not be loaded; ``problems`` holds one line per variable."""

    def __init__(self, problems: list[str], tier: str = "development") -> None:
        self.problems = problems
        count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
        lines = [f"{count} with the settings (tier {tier}):", *(f"  {p}" for p in problems)]
        super().__init__("\n".join(lines))


class Secret:
    """A secret value: shown as ``Secret('****')`` everywhere; ``reveal()`` returns it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret('{MASK}')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash((Secret, self._value))

    def __bool__(self) -> bool:
        return bool(self._value)


class Field:
    """One declared setting: how to parse it and its default, overall and per tier."""

    def __init__(
        self,
        expected: str,
        parse: Callable[[str], Any],
        default: Any,
        tiers: Mapping[str, Any],
        *,
        show_value: bool = True,
    ) -> None:
        self.expected = expected
        self.parse = parse
        self.default = default
        self.tiers = {tier: value for tier, value in tiers.items() if value is not _UNSET}
        self.show_value = show_value

    def resolve(self, name: str, raw: str | None, tier: str) -> tuple[Any, str | None]:
        """The value (or the problem) for this field given the raw variable and the tier."""
        if raw is None or not raw.strip():
            value = self.tiers.get(tier, self.default)
            if value is REQUIRED:
                where = f" in {tier}" if self.tiers.get(tier) is REQUIRED else ""
                return None, f"{name}: required{where}, not set"
            return self.parse_default(value), None
        try:
            return self.parse(raw), None
        except ValueError:
            got = repr(raw) if self.show_value else "a hidden value"
            return None, f"{name}: expected {self.expected}, got {got}"

    def parse_default(self, value: Any) -> Any:
        return list(value) if isinstance(value, list | tuple) else value

    def __repr__(self) -> str:
        return f"<Field {self.expected} default={self.default!r}>"


class _SecretField(Field):
    def parse_default(self, value: Any) -> Any:
        return value if value is None or isinstance(value, Secret) else Secret(str(value))


def _tiers(development: Any, testing: Any, staging: Any, production: Any) -> dict[str, Any]:
    return dict(zip(TIERS, (development, testing, staging, production), strict=True))


def string(
    default: _Default = REQUIRED,
    *,
    choices: tuple[str, ...] | None = None,
    development: _Default = _UNSET,
    testing: _Default = _UNSET,
    staging: _Default = _UNSET,
    production: _Default = _UNSET,
) -> Field:
    """A string, optionally one of ``choices``."""

    def parse(raw: str) -> str:
        value = raw.strip()
        if choices is not None and value not in choices:
            raise ValueError(value)
        return value

    expected = "a string" if choices is None else f"one of {', '.join(choices)}"
    return Field(expected, parse, default, _tiers(development, testing, staging, production))


def integer(
    default: _Default = REQUIRED,
    *,
    development: _Default = _UNSET,
    testing: _Default = _UNSET,
    staging: _Default = _UNSET,
    production: _Default = _UNSET,
) -> Field:
    """An integer such as ``4`` or ``-1``."""
    return Field(
        "an integer", lambda raw: int(raw.strip(), 10), default,
        _tiers(development, testing, staging, production),
    )  # fmt: skip


_BOOLEANS = {"true": True, "1": True, "yes": True, "on": True}
_BOOLEANS.update({"false": False, "0": False, "no": False, "off": False})


def _parse_boolean(raw: str) -> bool:
    try:
        return _BOOLEANS[raw.strip().lower()]
    except KeyError:
        raise ValueError(raw) from None


def boolean(
    default: _Default = REQUIRED,
    *,
    development: _Default = _UNSET,
    testing: _Default = _UNSET,
    staging: _Default = _UNSET,
    production: _Default = _UNSET,
) -> Field:
    """A boolean: true/false, 1/0, yes/no, on/off (any case)."""
    return Field(
        "a boolean (true/false, 1/0, yes/no, on/off)", _parse_boolean, default,
        _tiers(development, testing, staging, production),
    )  # fmt: skip


def _parse_url(raw: str) -> str:
    from urllib.parse import urlsplit

    value = raw.strip()
    parts = urlsplit(value)
    if not parts.scheme or not parts.hostname:
        raise ValueError(value)
    return value


def url(
    default: _Default = REQUIRED,
    *,
    development: _Default = _UNSET,
    testing: _Default = _UNSET,
    staging: _Default = _UNSET,
    production: _Default = _UNSET,
) -> Field:
    """A URL with a scheme and a host, such as ``postgresql://db.internal/shop``."""
    return Field(
        "a URL with a scheme and a host", _parse_url, default,
        _tiers(development, testing, staging, production),
    )  # fmt: skip


def _parse_listing(raw: str) -> list[str]:
    return [item.strip() for item in raw.split(",") if item.strip()]


def listing(
    default: _Default = REQUIRED,
    *,
    development: _Default = _UNSET,
    testing: _Default = _UNSET,
    staging: _Default = _UNSET,
    production: _Default = _UNSET,
) -> Field:
    """A comma-separated list: items stripped, empty items dropped."""
    return Field(
        "a comma-separated list", _parse_listing, default,
        _tiers(development, testing, staging, production),
    )  # fmt: skip


def secret(
    default: _Default = REQUIRED,
    *,
    development: _Default = _UNSET,
    testing: _Default = _UNSET,
    staging: _Default = _UNSET,
    production: _Default = _UNSET,
) -> Field:
    """A secret string, wrapped in :class:`Secret` so it never shows in logs or reprs."""
    return _SecretField(
        "a secret", Secret, default, _tiers(development, testing, staging, production),
        show_value=False,
    )  # fmt: skip


class Config:
    """Loaded settings: read-only, by attribute (``config.WORKERS``) or key."""

    __slots__ = ("_values",)

    def __init__(self, values: Mapping[str, Any]) -> None:
        object.__setattr__(self, "_values", dict(values))

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            known = ", ".join(self._values) or "none"
            raise AttributeError(f"no setting {name!r} (declared: {known})") from None

    def __getitem__(self, name: str) -> Any:
        return self._values[name]

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("settings are read-only")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("settings are read-only")

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __contains__(self, name: object) -> bool:
        return name in self._values

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={value!r}" for name, value in self._values.items())
        return f"Config({shown})"


class Settings:
    """The settings a service declares: ``Settings(NAME=runtime.integer(default=2), ...)``."""

    def __init__(self, **fields: Field) -> None:
        for name, field in fields.items():
            if not isinstance(field, Field):
                raise TypeError(
                    f"setting {name} must be declared with a field such as runtime.string(), "
                    f"got {field!r}"
                )
        self.fields = fields

    def load(self, environ: Mapping[str, str] | None = None) -> Config:
        """Read every declared variable; raise :class:`SettingsError` listing all problems."""
        env = os.environ if environ is None else environ
        tier = current(env).tier
        values: dict[str, Any] = {}
        problems: list[str] = []
        for name, field in self.fields.items():
            value, problem = field.resolve(name, env.get(name), tier)
            if problem is None:
                values[name] = value
            else:
                problems.append(problem)
        if problems:
            raise SettingsError(problems, tier)
        return Config(values)
