"""The pipeline file: valid files load with defaults merged; broken ones say file:line: key."""

from __future__ import annotations

from pathlib import Path

import pytest

from stageline.config import load_pipeline
from stageline.config.loader import service_in_text
from stageline.config.model import Tier
from stageline.errors import ConfigError, UsageError

VALID = """\
[service]
name = "shop"
start = "uvicorn shop.app:app --port {port}"
release = "alembic upgrade head"
bundle = ["alembic.ini", "migrations/"]

[defaults]
accept = ["v*"]
vars = { LOG_LEVEL = "info", WORKERS = 2, DEBUG = false }
secrets = ["PAYMENT_API_KEY"]

[defaults.services.postgres]
version = 16

[environments.development]
target = { kind = "local", port = 8101 }
promotion = "auto"
vars = { LOG_LEVEL = "debug" }

[environments.test]
target = { kind = "local", port = 8102 }

[environments.staging]
target = { kind = "local", port = 8103 }
accept = ["v*-rc*", "v[0-9]*.[0-9]*.[0-9]"]

[environments.production]
url = "https://shop.example.com"
target = { kind = "local", port = 8104 }

[environments.production.services.postgres]
provider = "system"
version = 15
"""


def write(tmp_path: Path, text: str, name: str = "stageline.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def issues_of(tmp_path: Path, text: str) -> list[str]:
    write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_pipeline(tmp_path)
    return [str(issue) for issue in caught.value.issues]


def test_valid_file_merges_defaults_and_keeps_order(tmp_path: Path) -> None:
    write(tmp_path, VALID)
    pipeline = load_pipeline(tmp_path)
    assert pipeline.names == ["development", "test", "staging", "production"]
    dev, test, staging, prod = pipeline.environments
    assert dev.vars == {"LOG_LEVEL": "debug", "WORKERS": "2", "DEBUG": "false"}
    assert test.tier is Tier.testing
    assert test.url == "http://127.0.0.1:8102"
    assert staging.accept == ["v*-rc*", "v[0-9]*.[0-9]*.[0-9]"]
    assert prod.url == "https://shop.example.com"
    assert prod.postgres is not None and prod.postgres.provider == "system"
    assert prod.postgres.version == 15
    assert staging.postgres is not None and staging.postgres.provider == "embedded"
    assert [e.secrets for e in pipeline.environments] == [["PAYMENT_API_KEY"]] * 4
    assert dev.promotion == "auto" and prod.promotion == "manual"
    assert pipeline.next_after("staging") is prod


def test_pyproject_tool_table(tmp_path: Path) -> None:
    body = VALID.replace("[service]", "[tool.stageline.service]")
    body = body.replace("[defaults", "[tool.stageline.defaults").replace(
        "[environments", "[tool.stageline.environments"
    )
    write(tmp_path, '[project]\nname = "shop"\nversion = "1.0"\n\n' + body, "pyproject.toml")
    assert load_pipeline(tmp_path).names == ["development", "test", "staging", "production"]
    text = (tmp_path / "pyproject.toml").read_text()
    service = service_in_text(text, "pyproject.toml", "pyproject.toml")
    assert service is not None and service.name == "shop"


def test_pyproject_errors_point_into_pyproject(tmp_path: Path) -> None:
    text = '[project]\nname = "x"\n\n[tool.stageline.service]\nname = "x"\nstart = "run"\n'
    text += '\n[tool.stageline.environments.staging]\ntarget = { kind = "local", port = "80" }\n'
    write(tmp_path, text, "pyproject.toml")
    with pytest.raises(ConfigError) as caught:
        load_pipeline(tmp_path)
    (issue,) = caught.value.issues
    assert issue.file.endswith("pyproject.toml") and issue.line == 9
    assert issue.key == "environments.staging.target.port"


def test_missing_file_says_how_to_start(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as caught:
        load_pipeline(tmp_path)
    assert "stageline init" in (caught.value.hint or "")


def test_inline_target_line_is_found(tmp_path: Path) -> None:
    (issue,) = issues_of(tmp_path, VALID.replace("port = 8103", 'port = "high"'))
    assert ":24: environments.staging.target.port: expected an integer, got 'high'" in issue


# Ten broken files: (what is broken, replacement in VALID, expected line, expected text)
BROKEN = [
    (
        "unknown key",
        'promotion = "auto"\n',
        'promotion = "auto"\ncolour = "blue"\n',
        18,
        "environments.development.colour: unknown key 'colour' (valid keys here: tier, url",
    ),
    (
        "wrong type",
        "version = 15",
        'version = "fifteen"',
        33,
        "services.postgres.version: expected an integer, got 'fifteen'",
    ),
    (
        "unknown environment in a reference",
        "[environments.test]\n",
        '[environments.test]\nextends = "stagin"\n',
        21,
        "environments.test.extends: unknown environment 'stagin' (valid environments: "
        "development, staging, production)",
    ),
    (
        "duplicate environment",
        "[environments.production]\n",
        '[environments.test]\ntier = "testing"\n\n[environments.production]\n',
        27,
        "environments.test: duplicate environment: declared twice",
    ),
    (
        "bad tag glob",
        'accept = ["v*-rc*", "v[0-9]*.[0-9]*.[0-9]"]',
        'accept = ["v[0-9*"]',
        25,
        "environments.staging.accept: unclosed '[' in tag glob 'v[0-9*'",
    ),
    (
        "missing start command",
        'start = "uvicorn shop.app:app --port {port}"\n',
        "",
        1,
        "service.start: missing required key 'start' (how to start it",
    ),
    (
        "port clash",
        "port = 8104",
        "port = 8102",
        29,
        "environments.production.target.port: port 8102 is already used by environment 'test'",
    ),
    (
        "unknown provider",
        'provider = "system"',
        'provider = "docker"',
        32,
        "services.postgres.provider: unknown value 'docker' (expected one of: 'embedded', "
        "'system', 'external')",
    ),
    (
        "unknown tier",
        "[environments.staging]\n",
        '[environments.staging]\ntier = "qa"\n',
        24,
        "environments.staging.tier: unknown value 'qa' (expected one of: 'development', "
        "'testing', 'staging', 'production')",
    ),
    (
        "bad secret name in defaults",
        'secrets = ["PAYMENT_API_KEY"]',
        'secrets = ["PAYMENT-KEY"]',
        10,
        "secrets: 'PAYMENT-KEY' is not a valid environment variable name",
    ),
    (
        "bad url",
        'url = "https://shop.example.com"',
        'url = "shop.example.com"',
        28,
        "environments.production.url: expected an http:// or https:// URL",
    ),
    ("not TOML", 'name = "shop"', 'name = "shop', 2, "not valid TOML"),
]


@pytest.mark.parametrize(
    ("old", "new", "line", "text"),
    [case[1:] for case in BROKEN],
    ids=[case[0] for case in BROKEN],
)
def test_broken_file_names_file_line_key_and_hint(
    tmp_path: Path, old: str, new: str, line: int, text: str
) -> None:
    assert old in VALID
    issues = issues_of(tmp_path, VALID.replace(old, new, 1))
    path = str(tmp_path / "stageline.toml")
    assert any(i.startswith(f"{path}:{line}: ") and text in i for i in issues), issues


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    broken = VALID.replace("port = 8101", 'port = "x"').replace("version = 15", "version = 1")
    broken = broken.replace("[environments.test]\n", "[environments.test]\nfoo = 1\n")
    issues = issues_of(tmp_path, broken)
    assert len(issues) == 3
    assert [int(i.split(":")[1]) for i in issues] == sorted(int(i.split(":")[1]) for i in issues)


def test_error_in_defaults_points_at_defaults(tmp_path: Path) -> None:
    issues = issues_of(tmp_path, VALID.replace('accept = ["v*"]', 'accept = "v*"'))
    # staging overrides accept, so three environments inherit the broken default
    assert issues and all(f"{tmp_path}/stageline.toml:8: " in i for i in issues)


def test_extends_inherits_from_another_environment(tmp_path: Path) -> None:
    text = VALID + '\n[environments.canary]\nextends = "production"\ntarget = { port = 8105 }\n'
    pipeline = load_pipeline(write(tmp_path, text))
    canary = pipeline.environment("canary")
    assert canary.extends == "production"
    assert canary.postgres is not None and canary.postgres.version == 15
    assert canary.tier is Tier.production


def test_circular_extends(tmp_path: Path) -> None:
    text = VALID.replace("[environments.test]\n", '[environments.test]\nextends = "staging"\n')
    text = text.replace("[environments.staging]\n", '[environments.staging]\nextends = "test"\n')
    issues = issues_of(tmp_path, text)
    assert any("circular extends: test -> staging -> test" in i for i in issues)


def test_unknown_environment_lookup_lists_valid_names(tmp_path: Path) -> None:
    pipeline = load_pipeline(write(tmp_path, VALID))
    with pytest.raises(UsageError, match="valid: development, test, staging, production"):
        pipeline.environment("prod")


GATES = """
[people.groups]
qa = ["ana@shop.example"]

[environments.staging.gates.smoke]
kind = "http"
steps = [{ path = "/healthz" }]

[environments.staging.gates.signoff]
kind = "approval"
required = 1
reviewers = ["group:qa"]
"""


def test_gates_and_people_load(tmp_path: Path) -> None:
    pipeline = load_pipeline(write(tmp_path, VALID + GATES))
    staging = pipeline.environment("staging")
    assert list(staging.gates) == ["smoke", "signoff"]
    assert staging.gates["smoke"].timeout == 300
    assert pipeline.people.groups == {"qa": ["ana@shop.example"]}


@pytest.mark.parametrize(
    ("old", "new", "line", "text"),
    [
        (
            'kind = "http"',
            'kind = "htp"',
            39,
            "environments.staging.gates.smoke.kind: unknown gate kind 'htp'; valid: approval, "
            "command, http, load, migrations, parity, pii-scan, pytest, side-effects, soak",
        ),
        (
            'steps = [{ path = "/healthz" }]',
            'steps = [{ path = "/healthz", expect_status = "ok" }]',
            40,
            "environments.staging.gates.smoke.steps.0.expect_status: expected an integer",
        ),
        (
            'steps = [{ path = "/healthz" }]',
            'steps = [{ path = "/healthz" }]\nretries = 3',
            41,
            "environments.staging.gates.smoke.retries: unknown key 'retries' (valid keys here:",
        ),
        (
            'reviewers = ["group:qa"]',
            'reviewers = ["group:qe"]',
            45,
            "environments.staging.gates.signoff.reviewers: unknown group 'qe' "
            "(groups are declared in [people.groups]: qa)",
        ),
    ],
    ids=["unknown kind", "bad option type", "unknown option", "unknown group"],
)
def test_broken_gates(tmp_path: Path, old: str, new: str, line: int, text: str) -> None:
    issues = issues_of(tmp_path, VALID + GATES.replace(old, new, 1))
    path = str(tmp_path / "stageline.toml")
    assert any(i.startswith(f"{path}:{line}: ") and text in i for i in issues), issues


def test_freeze_windows_need_a_time_zone_and_an_order(tmp_path: Path) -> None:
    good = (
        "\n[[environments.production.freeze]]\nstart = 2026-12-24T00:00:00Z\n"
        'end = 2026-12-27T00:00:00Z\nreason = "holidays"\n'
    )
    pipeline = load_pipeline(write(tmp_path, VALID + good))
    (freeze,) = pipeline.environment("production").freeze
    assert freeze.reason == "holidays" and freeze.start.tzinfo is not None
    naive = good.replace("2026-12-24T00:00:00Z", "2026-12-24T00:00:00")
    assert any("need a time zone" in i for i in issues_of(tmp_path, VALID + naive))
    backwards = good.replace("2026-12-27T00:00:00Z", "2026-12-20T00:00:00Z")
    assert any("end must come after its start" in i for i in issues_of(tmp_path, VALID + backwards))
