"""An example service shipped the way a team adopting stageline would ship it (issue 20).

In the service's repository, at its newest tag, with no stageline file in either tag:

1. ``stageline init`` writes the operator's file (never edited, except that its ports
   are swapped for free ones so tests can run side by side), and ``stageline check``
   accepts it; the operator lists their SSH key in ``[access] allowed_signers`` and signs
   every command (``STAGELINE_SIGNING_KEY``), as production wants;
2. the first tag ships to production through the environments init wrote;
3. the operator adds staging's checks to that file: an ``http`` gate that logs in with
   ``{secret.ADMIN_PASSWORD}`` (set with ``stageline secrets set``) and registers a user
   whose name holds ``{run}``, the ``migrations`` gate with the service's own tool, and
   the ``pytest`` gate with the service's own suite and test dependencies (each only
   when init wrote none), and the worker process when the service has one;
4. the second tag ships to staging, passes those gates (twice for the ``http`` gate: a
   unique ``{run}`` per run), no gate evidence holds the password, and it is promoted:
   production shows the second release's change;
5. rollback: refused while the database is at the second release's schema, then done
   with ``--migrate``: production serves the first tag again, without the change.

Each test module gives its example's facts (:class:`Example`) and its own checks of what
the build made (static files, translations, the worker).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from tests.e2e.helpers import own_tmp, stop_everything, use_free_ports
from tests.examples.repos import TAGS, released_repo

from stageline.config import load_pipeline
from stageline.errors import ConfigError
from stageline.usecases.pipeline import Session

#: the admin password each environment's service gets (a secret: never in a file)
PASSWORDS = {"staging": "staging-Admin-4d9e1f", "production": "production-Admin-7b2c80"}
CLI_TIMEOUT_SECONDS = 900
#: the person running the pipeline, and their SSH key (in the test's folder)
OPERATOR = "ops@acme.example"
OPERATOR_KEY = "operator_ed25519"
#: the line above what the operator appends to the file init wrote
OPERATOR_MARK = "# staging's checks, added by the operator"


@dataclass(frozen=True)
class Example:
    """What the journey needs to know about one example service."""

    name: str
    #: text the file ``init`` writes must hold (what it had to read from the project)
    init_finds: tuple[str, ...]
    #: the migrations gate's tool, and the service's test dependencies ([service.tests])
    migration_tool: str
    test_dependencies: str
    #: the login form's path; the JSON field of the bearer token it returns, if any
    login_path: str
    token_field: str | None
    #: the JSON API that registers a user by ``{"name": ...}``; its health route
    users_path: str
    health_path: str
    #: a key the second release adds to a registered user (the visible change)
    v2_key: str
    #: process types beside ``web`` ([service.processes]) the operator adds when init
    #: wrote none (init reads the web entry point; a worker is the operator's to name)
    processes: tuple[tuple[str, str], ...] = ()
    #: ``rollback production`` options that bring the first tag back
    rollback: tuple[str, ...] = ("--migrate",)
    #: more checks of the service as production runs it (what the build made)
    production_checks: tuple[Callable[[httpx.Client, str], None], ...] = field(default=())

    @property
    def tags(self) -> tuple[str, str]:
        return TAGS[self.name]


@contextmanager
def adopted(example: Example) -> Iterator[Path]:
    """The example's repository in a folder of its own; every process its pipeline
    started is stopped, and the folder removed, afterwards."""
    folder = own_tmp(f"stageline-{example.name}-")
    repo = folder / example.name
    try:
        released_repo(example.name, repo)
        key = folder / OPERATOR_KEY
        keygen = ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", OPERATOR, "-f", str(key)]
        subprocess.run(keygen, check=True, capture_output=True)
        yield repo
    finally:
        try:
            if (repo / ".stageline").is_dir():
                stop(repo)
        finally:
            shutil.rmtree(folder, ignore_errors=True)


def stop(repo: Path) -> None:
    """Stop everything the pipeline started, with the file as it was before the
    operator's additions when those are what makes it unreadable."""
    pipeline_file = repo / "stageline.toml"
    text = pipeline_file.read_text(encoding="utf-8") if pipeline_file.is_file() else ""
    if OPERATOR_MARK in text:
        try:
            load_pipeline(repo)
        except ConfigError:
            pipeline_file.write_text(text.split(OPERATOR_MARK)[0], encoding="utf-8")
    stop_everything(repo)


def stageline(repo: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """The CLI as a person runs it: in the service's working tree."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST_")}
    env.update(STAGELINE_USER=OPERATOR, STAGELINE_SIGNING_KEY=str(repo.parent / OPERATOR_KEY))
    return subprocess.run(
        [sys.executable, "-m", "stageline", *args],
        cwd=repo,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_SECONDS,
        env=env,
    )


def ok(repo: Path, *args: str, stdin: str | None = None) -> str:
    done = stageline(repo, *args, stdin=stdin)
    assert done.returncode == 0, f"stageline {' '.join(args)}:\n{done.stdout}{done.stderr}"
    return done.stdout + done.stderr


def ship_story(example: Example, repo: Path) -> None:
    """Steps 1 to 5 of the module docstring, each asserting what it should show."""
    first, second = example.tags
    pipeline_file = initialise(example, repo)
    prove_identity(repo, pipeline_file)
    ship_to_production(repo, first)
    add_staging_checks(pipeline_file, example)
    set_secrets(repo, pipeline_file)
    ok(repo, "check")

    ok(repo, "ship", second)
    assert serving(repo, "staging")["tag"] == second
    verified = ok(repo, "verify", "staging")
    again = ok(repo, "verify", "staging", "--gate", "critical-path")
    assert "critical-path" in verified and "critical-path" in again
    assert_no_password_in_evidence(repo)
    ok(repo, "promote", "staging")
    production = serving(repo, "production")
    assert production["tag"] == second, production
    with httpx.Client(base_url=production["url"], timeout=30) as client:
        assert example.v2_key in register(client, example, "after-promote")
        for check in example.production_checks:
            check(client, PASSWORDS["production"])

    refused = stageline(repo, "rollback", "production")
    said = refused.stdout + refused.stderr
    assert refused.returncode == 1, said
    assert "--migrate" in said, f"the refusal offers no --migrate:\n{said}"
    assert serving(repo, "production")["tag"] == second  # nothing moved
    ok(repo, "rollback", "production", *example.rollback)
    production = serving(repo, "production")
    assert production["tag"] == first, production
    with httpx.Client(base_url=production["url"], timeout=30) as client:
        assert example.v2_key not in register(client, example, "after-rollback")


def initialise(example: Example, repo: Path) -> Path:
    """``init`` then ``check``, unedited but for the ports; the file's path."""
    ok(repo, "init")
    pipeline_file = repo / "stageline.toml"
    written = pipeline_file.read_text(encoding="utf-8")
    missing = [text for text in example.init_finds if text not in written]
    assert not missing, f"init did not find {missing}:\n{written}"
    use_free_ports(pipeline_file)
    report = json.loads(ok_stdout(repo, "check", "--json"))
    assert report["ok"] is True, report
    return pipeline_file


def prove_identity(repo: Path, pipeline_file: Path) -> None:
    """The operator's public key in the allowed signers the file names (with ``[access]
    allowed_signers`` added when init named none): promotion into production, rollback
    there and production's secrets want a signature (docs/secrets-and-access.md)."""
    access = load(pipeline_file).get("access", {})
    if access.get("mode") == "single-person":
        return
    signers = access.get("allowed_signers")
    if signers is None:
        signers = "allowed_signers"
        with pipeline_file.open("a", encoding="utf-8") as file:
            file.write(f'\n[access]\nallowed_signers = "{signers}"\n')
    public = (repo.parent / f"{OPERATOR_KEY}.pub").read_text(encoding="utf-8").split()[:2]
    (pipeline_file.parent / signers).write_text(f"{OPERATOR} {' '.join(public)}\n")
    ok(repo, "check")


def ship_to_production(repo: Path, tag: str) -> None:
    """``ship`` the tag, run staging's gates if init gave it any, promote it."""
    ok(repo, "ship", tag)
    if staging(load(repo / "stageline.toml")).get("gates"):
        ok(repo, "verify", "staging")
    ok(repo, "promote", "staging")
    production = serving(repo, "production")
    assert production["tag"] == tag, production
    assert production["health"] == "healthy", production


def load(pipeline_file: Path) -> dict[str, Any]:
    return tomllib.loads(pipeline_file.read_text(encoding="utf-8"))


def staging(config: dict[str, Any]) -> dict[str, Any]:
    environment: dict[str, Any] = config["environments"]["staging"]
    return environment


def add_staging_checks(pipeline_file: Path, example: Example) -> None:
    """What the operator adds by hand: ADMIN_PASSWORD as a secret of staging and
    production, staging's three gates, and the test dependencies if init named none."""
    text = pipeline_file.read_text(encoding="utf-8")
    config = tomllib.loads(text)
    for name in ("staging", "production"):
        text = declare_secret(text, config, name, "ADMIN_PASSWORD")
    gates = staging(config).get("gates", {})
    kinds = {gate.get("kind") for gate in gates.values()}
    text += f"\n{OPERATOR_MARK}\n" + login_gate(example)
    if "migrations" not in kinds:
        text += '\n[environments.staging.gates.migrations]\nkind = "migrations"\n'
        text += f'tool = "{example.migration_tool}"\n'
    if "pytest" not in kinds:
        text += '\n[environments.staging.gates.own-tests]\nkind = "pytest"\npath = "tests"\n'
    text += service_processes(config, example)
    if "tests" not in config["service"]:
        text += f'\n[service.tests]\n{example.test_dependencies}\npaths = ["tests"]\n'
    pipeline_file.write_text(text, encoding="utf-8")


def service_processes(config: dict[str, Any], example: Example) -> str:
    """The ``[service.processes]`` table to append: none when init wrote one (it must
    then hold the example's process types)."""
    written = config["service"].get("processes")
    if written is not None:
        missing = [name for name, command in example.processes if written.get(name) != command]
        assert not missing, f"init's [service.processes] lacks {missing}: {written}"
        return ""
    if not example.processes:
        return ""
    lines = "".join(f'{name} = "{command}"\n' for name, command in example.processes)
    return f"\n[service.processes]\n{lines}"


def declare_secret(text: str, config: dict[str, Any], environment: str, name: str) -> str:
    """``text`` with ``name`` among ``environment``'s secrets (unless already declared)."""
    declared = [*config.get("defaults", {}).get("secrets", [])]
    declared += config["environments"][environment].get("secrets", [])
    if name in declared:
        return text
    header = f"[environments.{environment}]\n"
    assert header in text, f"no {header.strip()} table to declare {name} in"
    if "secrets" in config["environments"][environment]:
        pattern = re.compile(rf"(\[environments\.{environment}\]\n(?:[^\[].*\n)*?secrets = \[)")
        return pattern.sub(rf'\1"{name}", ', text, count=1)
    return text.replace(header, f'{header}secrets = ["{name}"]\n', 1)


def login_gate(example: Example) -> str:
    """The ``http`` gate: health, log in with the secret, register ``smoke-{run}``."""
    login = (
        f'{{ method = "POST", path = "{example.login_path}", expect_status = [200, 302], '
        'form = { username = "admin", password = "{secret.ADMIN_PASSWORD}" }'
    )
    headers = ""
    if example.token_field:
        login += f', capture = {{ token = "{example.token_field}" }}'
        headers = 'headers = { Authorization = "Bearer {token}" }, '
    register = (
        f'{{ method = "POST", path = "{example.users_path}", {headers}'
        'json = { name = "smoke-{run}" }, expect_status = 201 }'
    )
    health = f'{{ path = "{example.health_path}", expect_json = {{ database = "ok" }} }}'
    steps = ",\n  ".join((health, login + " }", register))
    return f'[environments.staging.gates.critical-path]\nkind = "http"\nsteps = [\n  {steps},\n]\n'


def set_secrets(repo: Path, pipeline_file: Path) -> None:
    """A value for every secret each environment declares (from stdin, as a person would
    pipe it): ADMIN_PASSWORD from :data:`PASSWORDS`, any other a value of its own."""
    config = load(pipeline_file)
    defaults = config.get("defaults", {}).get("secrets", [])
    for environment, table in config["environments"].items():
        for name in sorted({*defaults, *table.get("secrets", [])}):
            value = f"{environment}-{name.lower()}-e2e-value"
            if name == "ADMIN_PASSWORD":
                value = PASSWORDS.get(environment, value)
            ok(repo, "secrets", "set", environment, name, stdin=value)


def serving(repo: Path, environment: str) -> dict[str, Any]:
    """The environment as ``stageline status --json`` shows it."""
    status = json.loads(ok_stdout(repo, "status", "--json"))
    found: dict[str, Any] = {e["name"]: e for e in status["environments"]}[environment]
    return found


def ok_stdout(repo: Path, *args: str) -> str:
    done = stageline(repo, *args)
    assert done.returncode == 0, f"stageline {' '.join(args)}:\n{done.stdout}{done.stderr}"
    return done.stdout


def assert_no_password_in_evidence(repo: Path) -> None:
    """No file of any gate run's evidence holds staging's admin password."""
    with Session.open(repo) as session:
        runs = session.store.gate_runs("staging")
    folders = {Path(run.report_path).parent for run in runs if run.report_path}
    assert folders, "no gate run kept evidence"
    secret = PASSWORDS["staging"].encode()
    for folder in folders:
        for file in folder.rglob("*"):
            if file.is_file():
                assert secret not in file.read_bytes(), f"{file} holds the password"


def register(client: httpx.Client, example: Example, prefix: str) -> dict[str, Any]:
    """Log in as the admin with production's password and register a new user; the
    user as the service returns it."""
    form = {"username": "admin", "password": PASSWORDS["production"]}
    login = client.post(example.login_path, data=form)
    assert login.status_code in (200, 302), login.text
    headers = {}
    if example.token_field:
        headers["Authorization"] = f"Bearer {login.json()[example.token_field]}"
    name = f"{prefix}-{os.urandom(4).hex()}"
    created = client.post(example.users_path, json={"name": name}, headers=headers)
    assert created.status_code == 201, created.text
    user: dict[str, Any] = created.json()
    return user
