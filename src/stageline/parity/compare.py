"""Compare the facts of two environments: one row per layer and key, with a severity.

Pure. ``compare(a, b, allow)`` returns a :class:`Report`; a row is ``equal`` or
``different``, and a difference is ``blocking``, ``warning`` or ``info`` by the rules
below, or ``allowed`` when an allow-list entry of either environment names it (its
reason is kept on the row). Blocking by default:

- ``os``: a different distribution or major version
- ``python``: a different implementation or minor version
- ``packages``: a different set of installed versions while both run the same artifact
  (different artifacts differ by design; that is the time gap, a warning here)
- ``postgres``, ``redis``: a different brand (or none on one side) or major version
- ``persist``: a ``[service] persist`` folder linked and writable on one side only
- ``variables``: a name one environment's service receives and the other's does not

Everything else is a warning (OS minor version, libc, architecture, Python patch,
extensions, ``[defaults]`` overrides, infrastructure hashes) or info (kernel, digest).
Rows never carry a variable's or an override's value: names, versions and hashes only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from stageline.config.model import ParityAllow, Pipeline
from stageline.errors import UsageError
from stageline.parity.facts import Facts
from stageline.values import label

Severity = Literal["-", "info", "warning", "blocking", "allowed"]
#: the layers every report has a row of (``redis`` and ``persist`` only when either
#: environment has that service or such folders)
LAYERS = (
    "os", "python", "packages", "artifact", "postgres", "variables", "overrides",
    "infrastructure",
)  # fmt: skip
ALL = "(all)"


@dataclass(frozen=True)
class Row:
    layer: str
    key: str
    a: str
    b: str
    equal: bool
    severity: Severity
    #: why it has that severity; for an allowed row, the allow-list's reason
    reason: str = ""
    #: the environment whose allow-list accepted the difference
    allowed_by: str | None = None

    def describe(self, a: str, b: str) -> str:
        """One line, e.g. ``postgres version: staging 15.18, production 16.4 (major ...)``."""
        text = f"{self.layer} {self.key}: {a} {self.a}, {b} {self.b}"
        return f"{text} ({self.reason})" if self.reason else text


@dataclass(frozen=True)
class Allowed:
    """An allow-list entry and the environment that declared it."""

    environment: str
    entry: ParityAllow

    def matches(self, row: Row) -> bool:
        return self.entry.layer == row.layer and self.entry.key in (None, row.key)


@dataclass(frozen=True)
class Report:
    a: str
    b: str
    rows: tuple[Row, ...]

    @property
    def blocking(self) -> list[Row]:
        return [row for row in self.rows if row.severity == "blocking"]

    @property
    def allowed(self) -> list[Row]:
        return [row for row in self.rows if row.severity == "allowed"]

    @property
    def ok(self) -> bool:
        return not self.blocking

    @property
    def all_equal(self) -> bool:
        return all(row.equal for row in self.rows)

    def to_json(self) -> dict[str, object]:
        return {
            "a": self.a,
            "b": self.b,
            "ok": self.ok,
            "blocking": len(self.blocking),
            "rows": [vars(row) for row in self.rows],
        }


def allow_list(*pairs: tuple[str, Iterable[ParityAllow]]) -> list[Allowed]:
    """Allow-list entries of each ``(environment, entries)``, tagged with their origin."""
    return [Allowed(name, entry) for name, entries in pairs for entry in entries]


def compare_probed(pipe: Pipeline, a: str, b: str, probe: Callable[[str], Facts]) -> Report:
    """``a`` against ``b`` as ``probe`` finds them, with both environments' allow-lists."""
    env_a, env_b = pipe.environment(a), pipe.environment(b)
    if env_a.name == env_b.name:
        raise UsageError(f"parity compares two different environments, got {a} twice")
    allowed = allow_list((env_a.name, env_a.parity.allow), (env_b.name, env_b.parity.allow))
    return compare(probe(env_a.name), probe(env_b.name), allowed)


def compare(a: Facts, b: Facts, allow: Sequence[Allowed] = ()) -> Report:
    """Every layer of ``a`` against ``b``; differences judged, then the allow-list applied."""
    rows = [
        *_os(a, b),
        *_python(a, b),
        *_packages(a, b),
        *_artifact(a, b),
        *_backing(a, b),
        *_variables(a, b),
        *_keyed("overrides", a.overrides, b.overrides, "overridden"),
        *_keyed("infrastructure", a.infrastructure, b.infrastructure, "sha256"),
        *_persist(a, b),
    ]
    return Report(a.environment, b.environment, tuple(_apply(row, allow) for row in rows))


def _apply(row: Row, allow: Sequence[Allowed]) -> Row:
    if row.equal:
        return row
    for item in allow:
        if item.matches(row):
            return Row(
                row.layer, row.key, row.a, row.b, False, "allowed", item.entry.reason,
                item.environment,
            )  # fmt: skip
    return row


def _row(layer: str, key: str, a: str, b: str, severity: Severity, reason: str = "") -> Row:
    if a == b:
        return Row(layer, key, a, b, True, "-")
    return Row(layer, key, a, b, False, severity, reason)


def major(version: str) -> str:
    return version.split(".")[0]


def minor(version: str) -> str:
    return ".".join(version.split(".")[:2])


def _by_version(layer: str, key: str, a: str, b: str, cut: str, what: str) -> Row:
    """Blocking when the part up to ``cut`` (major or minor) differs, else a warning."""
    part = major if cut == "major" else minor
    if part(a) != part(b):
        return _row(layer, key, a, b, "blocking", f"different {what} {cut} version")
    return _row(layer, key, a, b, "warning", f"same {cut} version")


def _os(a: Facts, b: Facts) -> list[Row]:
    x, y = a.os, b.os
    return [
        _row("os", "distribution", x.distribution, y.distribution, "blocking",
             "different OS distribution"),
        _by_version("os", "version", x.version, y.version, "major", "OS"),
        _row("os", "architecture", x.architecture, y.architecture, "warning"),
        _row("os", "libc", x.libc, y.libc, "warning"),
        _row("os", "kernel", x.kernel, y.kernel, "info"),
    ]  # fmt: skip


def _python(a: Facts, b: Facts) -> list[Row]:
    x, y = a.python, b.python
    return [
        _row("python", "implementation", x.implementation, y.implementation, "blocking",
             "different Python implementation"),
        _by_version("python", "version", x.version, y.version, "minor", "Python"),
    ]  # fmt: skip


def _packages(a: Facts, b: Facts) -> list[Row]:
    if a.packages == b.packages:
        count = f"{len(a.packages)} distributions {label(a.packages_digest)}"
        return [Row("packages", ALL, count, count, True, "-")]
    if a.digest is not None and a.digest == b.digest:
        severity: Severity = "blocking"
        reason = "different package version, same artifact"
    else:
        severity = "warning"
        reason = f"different releases ({a.release or '-'} and {b.release or '-'})"
    rows = []
    for name in sorted(set(a.packages) | set(b.packages)):
        x, y = a.packages.get(name, "absent"), b.packages.get(name, "absent")
        if x != y:
            rows.append(_row("packages", name, x, y, severity, reason))
    return rows


def _artifact(a: Facts, b: Facts) -> list[Row]:
    x, y = a.digest or "none", b.digest or "none"
    shown_a = f"{a.release} {label(x)}" if a.release else label(x)
    shown_b = f"{b.release} {label(y)}" if b.release else label(y)
    if x == y:
        return [Row("artifact", "digest", shown_a, shown_b, True, "-")]
    return [Row("artifact", "digest", shown_a, shown_b, False, "info", "different releases")]


def _backing(a: Facts, b: Facts) -> list[Row]:
    rows: list[Row] = []
    for service in sorted(set(a.backing) | set(b.backing)):
        x, y = a.backing.get(service), b.backing.get(service)
        if x is None or y is None:
            rows.append(
                _row(service, "brand", x.brand if x else "none", y.brand if y else "none",
                     "blocking", "a backing service on one side only")
            )  # fmt: skip
            continue
        rows.append(_row(service, "brand", x.brand, y.brand, "blocking", "different brand"))
        rows.append(_by_version(service, "version", x.version, y.version, "major", x.brand))
        for name in sorted(set(x.extensions) | set(y.extensions)):
            rows.append(
                _row(service, f"extension:{name}", x.extensions.get(name, "absent"),
                     y.extensions.get(name, "absent"), "warning")
            )  # fmt: skip
    return rows


def _variables(a: Facts, b: Facts) -> list[Row]:
    x, y = set(a.variables), set(b.variables)
    if x == y:
        return [Row("variables", ALL, f"{len(x)} names", f"{len(y)} names", True, "-")]
    return [
        Row("variables", name, "set" if name in x else "missing",
            "set" if name in y else "missing", False, "blocking", "missing variable name")
        for name in sorted(x ^ y)
    ]  # fmt: skip


def _persist(a: Facts, b: Facts) -> list[Row]:
    """Each ``[service] persist`` folder's state: one that is not ``writable`` (its own,
    linked) on one side and is on the other is blocking; other differences warn."""
    rows = []
    for name in sorted(set(a.persist) | set(b.persist)):
        x, y = a.persist.get(name, "not declared"), b.persist.get(name, "not declared")
        severity: Severity = "blocking" if "writable" in (x, y) else "warning"
        rows.append(_row("persist", name, x, y, severity, "persistent folder differs"))
    return rows


def _keyed(layer: str, x: dict[str, str], y: dict[str, str], what: str) -> list[Row]:
    """Hashes by name: equal, different, or on one side only (all warnings). Override
    hashes are not shown (only whether the values are equal); infrastructure ones are."""
    if not x and not y:
        return [Row(layer, "(none)", "-", "-", True, "-")]

    def shown(hashes: dict[str, str], key: str) -> str:
        if key not in hashes:
            return "-" if layer == "overrides" else "not declared"
        return what if layer == "overrides" else f"{what} {hashes[key][:12]}"

    rows = []
    for key in sorted(set(x) | set(y)):
        a, b = shown(x, key), shown(y, key)
        if key in x and key in y and x[key] == y[key]:
            rows.append(Row(layer, key, a, b, True, "-"))
        elif key in x and key in y:
            rows.append(Row(layer, key, a, b, False, "warning", "different values"))
        else:
            rows.append(Row(layer, key, a, b, False, "warning", "on one side only"))
    return rows
