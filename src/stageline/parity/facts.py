"""The facts of one running environment, as plain data (what ``probe`` collects).

Facts are what the environment *is*, asked from it, not what the pipeline file claims:
the operating system and Python of the release's virtualenv, the distributions
installed in it, the artifact digest, each backing service's brand and version as the
server reports them (PostgreSQL, Redis), the state of each ``[service] persist`` folder
as the release sees it (``writable``: linked to the environment's own folder), the
NAMES of the variables the service receives (never their values), the keys the
environment overrides in ``[defaults]`` (with a hash of each value, so equal overrides
compare equal without showing them), and a hash of each infrastructure path it declares.

``PROBE_SCRIPT`` is what runs inside the release's Python (through the target, so the
same probe works on a remote host); ``parse_probe`` judges its output. Both are here so
tests can feed real outputs (``tests/parity/data``) to the parser.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from stageline.errors import InfrastructureError, UsageError

#: runs in the release's virtualenv Python; prints one JSON object on one line
PROBE_SCRIPT = r"""
import importlib.metadata as md, json, platform, sys
osr = {}
for path in ("/etc/os-release", "/usr/lib/os-release"):
    try:
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                key, sep, value = line.strip().partition("=")
                if sep:
                    osr[key] = value.strip().strip('"').strip("'")
        break
    except OSError:
        pass
import os
persist = {}
for name in sys.argv[1:]:
    if not os.path.lexists(name):
        persist[name] = "missing"
    elif not os.path.islink(name):
        persist[name] = "inside the release"
    elif not os.path.isdir(name):
        persist[name] = "dangling link"
    else:
        persist[name] = "writable" if os.access(name, os.W_OK) else "read-only"
libc, libc_version = platform.libc_ver()
packages = {}
for dist in md.distributions():
    name = dist.metadata["Name"]
    if name:
        packages[name] = dist.version
print(json.dumps({
    "os_release": osr,
    "kernel": platform.release(),
    "architecture": platform.machine(),
    "libc": (libc + " " + libc_version).strip(),
    "implementation": sys.implementation.name,
    "python_version": platform.python_version(),
    "packages": packages,
    "persist": persist,
}, sort_keys=True))
"""


class NotDeployed(UsageError):
    """Nothing runs in the environment, so it has no facts to probe."""

    def __init__(self, environment: str) -> None:
        super().__init__(
            f"nothing is deployed in {environment}: it has no facts to compare",
            hint=f"`stageline deploy {environment} TAG` or `stageline promote` first",
        )
        self.environment = environment


@dataclass(frozen=True)
class OsFacts:
    distribution: str  # os-release ID, e.g. "debian"
    version: str  # os-release VERSION_ID, e.g. "12"
    pretty: str  # os-release PRETTY_NAME, e.g. "Debian GNU/Linux 12 (bookworm)"
    kernel: str
    architecture: str
    libc: str  # e.g. "glibc 2.36"


@dataclass(frozen=True)
class PythonFacts:
    implementation: str  # e.g. "cpython"
    version: str  # e.g. "3.11.9"


@dataclass(frozen=True)
class BackingFacts:
    """A backing service as its server describes itself."""

    brand: str  # e.g. "PostgreSQL"
    version: str  # e.g. "16.4" (``SHOW server_version``, its first word)
    extensions: dict[str, str] = field(default_factory=dict)  # installed name -> version


@dataclass(frozen=True)
class Facts:
    """Everything the parity report compares, for one environment."""

    environment: str
    digest: str | None
    release: str | None  # the artifact's version
    os: OsFacts
    python: PythonFacts
    packages: dict[str, str]  # normalized distribution name -> version
    backing: dict[str, BackingFacts]  # service name ("postgres") -> its facts
    variables: tuple[str, ...]  # names only, sorted
    overrides: dict[str, str]  # dotted key overriding [defaults] -> hash of its value
    infrastructure: dict[str, str]  # declared name -> content hash ("missing" if absent)
    #: ``[service] persist`` folder -> its state (``writable``, ``read-only``, ``missing``...)
    persist: dict[str, str] = field(default_factory=dict)

    @property
    def packages_digest(self) -> str:
        return packages_digest(self.packages)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["variables"] = list(self.variables)
        data["packages_digest"] = self.packages_digest
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Facts:
        return cls(
            environment=data["environment"],
            digest=data.get("digest"),
            release=data.get("release"),
            os=OsFacts(**data["os"]),
            python=PythonFacts(**data["python"]),
            packages=dict(data["packages"]),
            backing={name: BackingFacts(**item) for name, item in data["backing"].items()},
            variables=tuple(sorted(data["variables"])),
            overrides=dict(data["overrides"]),
            infrastructure=dict(data["infrastructure"]),
            persist=dict(data.get("persist", {})),
        )


def normalize(name: str) -> str:
    """A distribution name as PEP 503 compares them (``Foo_Bar`` -> ``foo-bar``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def packages_digest(packages: dict[str, str]) -> str:
    """sha256 of the sorted ``name==version`` lines: equal sets, equal digests."""
    lines = "".join(f"{name}=={version}\n" for name, version in sorted(packages.items()))
    return "sha256:" + hashlib.sha256(lines.encode()).hexdigest()


def parse_probe(output: str) -> tuple[OsFacts, PythonFacts, dict[str, str]]:
    """Judge ``PROBE_SCRIPT``'s output: the last line that is a JSON object."""
    data = _probe_json(output)
    release = data.get("os_release", {})
    os_facts = OsFacts(
        distribution=release.get("ID", "unknown"),
        version=release.get("VERSION_ID", "unknown"),
        pretty=release.get("PRETTY_NAME", ""),
        kernel=data.get("kernel", ""),
        architecture=data.get("architecture", ""),
        libc=data.get("libc", ""),
    )
    python = PythonFacts(data.get("implementation", ""), data.get("python_version", ""))
    packages = {normalize(n): v for n, v in data.get("packages", {}).items()}
    return os_facts, python, dict(sorted(packages.items()))


def parse_persist(output: str) -> dict[str, str]:
    """The persist folders' states from ``PROBE_SCRIPT``'s output (given their names)."""
    found = _probe_json(output).get("persist", {})
    return {str(k): str(v) for k, v in sorted(found.items())} if isinstance(found, dict) else {}


def _probe_json(output: str) -> dict[str, Any]:
    data: dict[str, Any] | None = None
    for line in reversed(output.strip().splitlines()):
        if line.startswith("{"):
            try:
                data = json.loads(line)
            except ValueError:
                continue
            break
    if data is None:
        raise InfrastructureError(
            f"the parity probe printed no facts: {output.strip()[-200:]!r}",
            hint="the release's Python must run; see `stageline logs ENV`",
        )
    return data


def value_hash(value: object) -> str:
    """A short hash of a config value, to compare overrides without showing them."""
    text = json.dumps(value, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def server_facts(
    version_text: str, server_version: str, extensions: dict[str, str]
) -> BackingFacts:
    """PostgreSQL's facts from ``SELECT version()`` and ``SHOW server_version``."""
    brand = version_text.split()[0] if version_text.strip() else "unknown"
    version = server_version.split()[0] if server_version.strip() else "unknown"
    return BackingFacts(brand, version, dict(sorted(extensions.items())))
