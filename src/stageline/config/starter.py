"""The pipeline file ``stageline init`` writes: what it read in the project, rendered.

``starter_for(root, tags)`` reads the project (``config.detect``) and renders a file
that passes ``stageline check``; everything init could not infer is a comment starting
with ``# ?`` at the place it belongs. Keys that the running stageline does not know yet
(``Supports``) are written as questions, never as keys ``check`` would refuse.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from stageline.config.detect import Project, Tree, detect
from stageline.config.model import Service, Services

FRAMEWORKS = {
    "fastapi": "FastAPI", "starlette": "Starlette", "litestar": "Litestar", "flask": "Flask",
    "django": "Django",
}  # fmt: skip


@dataclass(frozen=True)
class Supports:
    """Keys of the pipeline file this stageline reads (others become questions)."""

    root: bool
    tests: bool
    redis: bool

    @classmethod
    def current(cls) -> Supports:
        return cls(
            root="root" in Service.model_fields,
            tests="tests" in Service.model_fields,
            redis="redis" in Services.model_fields,
        )


def q(value: str) -> str:
    """A TOML basic string."""
    return json.dumps(value, ensure_ascii=False)


def _list(values: list[str] | tuple[str, ...]) -> str:
    return "[" + ", ".join(q(v) for v in values) + "]"


def _table(values: dict[str, str]) -> list[str]:
    return [f"{name} = {q(value)}" for name, value in values.items()]


def _summary(p: Project) -> list[str]:
    entry = p.entry
    app = (
        f"{FRAMEWORKS[entry.framework]} ({entry.path}: {entry.attribute})"
        if entry
        else "none found"
    )
    lines = [f"#   application: {app}"]
    if p.migrations is not None:
        where = p.migrations.options.get("config") or p.migrations.options.get("directory") or ""
        lines.append(f"#   migrations:  {p.migrations.tool}" + (f" ({where})" if where else ""))
    if p.lock is not None:
        lines.append(f"#   lock:        {p.lock.path}")
    read = sorted({*p.variables.database, *p.variables.redis})
    if read:
        lines.append(f"#   reads:       {', '.join(read)}")
    if p.tags:
        lines.append(f"#   tags:        {len(p.tags)}, newest {', '.join(p.tags[:3])}")
    return lines


def _service(p: Project, s: Supports) -> list[str]:
    out = ["[service]", f"name = {q(p.name)}"]
    if p.root:
        if s.root:
            out.append(f"# The service lives in {p.root}/: commands run there.")
            out.append(f"root = {q(p.root)}")
        else:
            out.append(f"# ? the service lives in {p.root}/, and this stageline has no [service] "
                       f"root: root = {q(p.root)}")  # fmt: skip
    out.append("# How to start one process; it must listen on {host}:{port}.")
    if p.start.question:
        out.append(f"# ? {p.start.question}")
    out.append(f"start = {q(p.start.command)}")
    health = p.health
    out.append(f"# Answers 200 when the service works ({health.why}).")
    if health.question:
        out.append(f"# ? {health.question}")
    out.append(f"health = {q(health.path)}")
    if p.migrations is not None:
        out.append("# Run once per deploy, before the new release takes traffic.")
        out.append(f"release = {q(p.migrations.release)}")
    bundle = list(p.migrations.bundle if p.migrations else ())
    if not s.tests:  # else [service.tests] paths carries them
        bundle += [f"{path}/" for path in (p.tests.paths if p.tests else ())]
    if bundle:
        out.append("# Non-package files the artifact carries (migrations, tests).")
        out.append(f"bundle = {_list(bundle)}")
    if p.build:
        out.append("# Run once at build time, with the release's dependencies installed.")
        out.append(f"build = {_list(p.build)}")
    if p.lock is not None and p.lock.named:
        out.append(f"lock = {q(p.lock.path)}")
    if p.lock is None:
        out.append("# ? no lock file found (uv.lock, requirements.txt...): builds resolve afresh")
    return out


def _tests(p: Project, s: Supports) -> list[str]:
    if p.tests is None or not s.tests:
        return []
    out = ["", "# The service's own tests, with their dependencies, for the pytest gate.",
           "[service.tests]"]  # fmt: skip
    if p.tests.source is not None:
        kind, value = p.tests.source
        out.append(f"{kind} = {q(value)}")
    else:
        out.append(
            "# ? where are the test dependencies? extra = ..., group = ... or requirements = ..."
        )
    out.append(f"paths = {_list(list(p.tests.paths))}")
    return out


def _defaults(p: Project, s: Supports) -> list[str]:
    out = [
        "",
        "# Every environment inherits these and overrides only what must differ.",
        "[defaults]",
    ]
    if p.accept:
        out.append("# Which git tags an environment accepts (from the project's own tags).")
        out.append(f"accept = {_list(p.accept)}")
    else:
        out.append("# ? the repository has no tags yet: which will name releases? (v1.2.0 below)")
        out.append('accept = ["v*"]')
    if p.secrets:
        out.append("# Read by the code with no default: give each environment its value with")
        out.append("# `stageline secrets set ENV NAME` (a deploy refuses until it has one).")
        out.append(f"secrets = {_list(p.secrets)}")
    if p.required:
        out.append(f"# ? the code reads {', '.join(p.required)} with no default: set them in "
                   "[defaults.vars]")  # fmt: skip
    if p.others:
        out.append(f"# The code also reads {', '.join(p.others)} (with defaults in the code).")
    variables = {**p.variables.database, **(p.variables.redis if s.redis else {})}
    if variables:
        out += ["", "# The variables the code reads, filled from each environment's own services.",
                "[defaults.vars]", *_table(variables)]  # fmt: skip
    if p.variables.redis and not s.redis:
        pairs = ", ".join(f"{k} = {v}" for k, v in p.variables.redis.items())
        out.append(f"# ? the code reads Redis ({pairs}) and this stageline gives none")
    if p.variables.needs_database:
        out += ["", "# Each environment gets its own PostgreSQL server (embedded: PostgreSQL 16).",
                "[defaults.services.postgres]", "version = 16",
                'provider = "embedded"']  # fmt: skip
    if p.variables.needs_redis and s.redis:
        out += ["", "# Each environment gets its own Redis (Debian's redis-server).",
                "[defaults.services.redis]", 'provider = "system"']  # fmt: skip
    if p.sqlite:
        out.append(f"# ? {', '.join(p.sqlite)}: a SQLite database is named there; check that "
                   "the variables above are the ones the code uses")  # fmt: skip
    return out


ACCESS = """
# Who you are, proven: approvals, promotion into production, --force and
# --override-freeze need your SSH signature (--sign-with ~/.ssh/id_ed25519, a key listed
# for you in allowed_signers, git's format) or your personal token (STAGELINE_TOKEN).
# [access]
# allowed_signers = "allowed_signers"
# mode = "single-person"    # you alone run this pipeline: STAGELINE_USER is enough
"""


def _environments(p: Project, ports: list[int], s: Supports) -> list[str]:
    out = ["", "# Environments, in promotion order."]
    names = ("development", "test", "staging", "production")
    for name, port in zip(names, ports, strict=True):
        out += ["", f"[environments.{name}]", f'target = {{ kind = "local", port = {port} }}']
        out.append('promotion = "manual"' if name == "production" else 'promotion = "auto"')
        if name == "staging":
            out += _gates(p, s)
    return out


def _gates(p: Project, s: Supports) -> list[str]:
    out = ["", "[environments.staging.gates.smoke]", 'kind = "http"', "timeout = 60",
           f"steps = [{{ path = {q(p.health.path)} }}]"]  # fmt: skip
    if p.migrations is not None and p.variables.needs_database:
        out += ["", "# The release's migrations, rehearsed on a copy of staging's data.",
                "[environments.staging.gates.migrations]", 'kind = "migrations"',
                f"tool = {q(p.migrations.tool)}", *_table(p.migrations.options),
                "timeout = 300"]  # fmt: skip
    if p.tests is not None:
        gate = ["[environments.staging.gates.tests]", 'kind = "pytest"',
                f"path = {q(p.tests.paths[0])}", "timeout = 600"]  # fmt: skip
        if s.tests and p.tests.uses_pytest:
            out += ["", "# The service's own test suite, against a copy of staging's data.", *gate]
        else:
            why = (
                "no pytest among its dependencies"
                if s.tests
                else "this stageline has no [service.tests]"
            )
            out += ["", f"# ? the service has tests in {p.tests.paths[0]}/ ({why}): run them with",
                    *(f"# {line}" for line in gate)]  # fmt: skip
    return out


def render(p: Project, ports: list[int], supports: Supports) -> str:
    """The pipeline file for ``p``."""
    head = [
        f"# stageline pipeline file for {p.name}: built once from a git tag, promoted",
        "# development -> test -> staging -> production. Written by `stageline init` from",
        "# reading the project:",
        *_summary(p),
        '# Lines starting with "# ?" are what init could not tell: answer them, then run',
        "# `stageline check`.",
        "",
    ]
    lines = [*head, *_service(p, supports), *_tests(p, supports), *_defaults(p, supports)]
    lines += ACCESS.rstrip("\n").split("\n")
    lines += _environments(p, ports, supports)
    return "\n".join(lines) + "\n"


def starter_for(
    root: Path, tags: list[str] | None = None, base_port: int = 8101,
    supports: Supports | None = None,
) -> str:  # fmt: skip
    """The pipeline file for the project at ``root`` (``tags``: its git tags)."""
    project = detect(Tree.at(root), tags or [])
    ports = [base_port + i for i in range(4)]
    return render(project, ports, supports or Supports.current())


def written_for(root: Path) -> str:
    """``starter_for`` with the tags of the git repository ``root`` is in (none outside one)."""
    from stageline.artifacts.source import recent_tags
    from stageline.errors import GitError

    try:
        tags = recent_tags(root, limit=10_000)
    except GitError:
        tags = []
    return starter_for(root, tags)


def questions(text: str) -> list[str]:
    """The questions a written file asks (its ``# ?`` lines), in order."""
    return [line[3:].strip() for line in text.splitlines() if line.startswith("# ? ")]
