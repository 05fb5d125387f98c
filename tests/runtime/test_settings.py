"""Typed settings: parsing of each type, per-tier defaults, every problem at once."""

from __future__ import annotations

import pytest

from stageline import runtime


def shop_settings() -> runtime.Settings:
    return runtime.Settings(
        DATABASE_URL=runtime.url(),
        WORKERS=runtime.integer(default=2),
        DEBUG=runtime.boolean(default=False, development=True, production=False),
        ALLOWED_HOSTS=runtime.listing(default=[]),
        PAYMENT_API_KEY=runtime.secret(production=runtime.REQUIRED, default=""),
        PAYMENT_URL=runtime.url(default="http://127.0.0.1:9/", production=runtime.REQUIRED),
        LOG_LEVEL=runtime.string(default="info", choices=("debug", "info", "warning")),
    )


def test_defaults_in_development() -> None:
    config = shop_settings().load({"DATABASE_URL": "postgresql://db.internal/shop"})
    assert config.DATABASE_URL == "postgresql://db.internal/shop"
    assert config.WORKERS == 2
    assert config.DEBUG is True  # the development default
    assert config.ALLOWED_HOSTS == []
    assert runtime.Secret("") == config.PAYMENT_API_KEY
    assert config.PAYMENT_URL == "http://127.0.0.1:9/"
    assert config.LOG_LEVEL == "info"
    assert config["WORKERS"] == 2
    assert "WORKERS" in config
    assert next(iter(config)) == "DATABASE_URL"


def test_values_from_the_environment() -> None:
    config = shop_settings().load(
        {
            "STAGELINE_TIER": "production",
            "DATABASE_URL": " postgresql://u:p@db/shop ",
            "WORKERS": "8",
            "DEBUG": "Off",
            "ALLOWED_HOSTS": " shop.example.com, ,api.example.com,",
            "PAYMENT_API_KEY": "sk_live_123",
            "PAYMENT_URL": "https://pay.example.com/v1",
            "LOG_LEVEL": "warning",
        }
    )
    assert config.DATABASE_URL == "postgresql://u:p@db/shop"
    assert config.WORKERS == 8
    assert config.DEBUG is False
    assert config.ALLOWED_HOSTS == ["shop.example.com", "api.example.com"]
    assert config.PAYMENT_API_KEY.reveal() == "sk_live_123"
    assert config.PAYMENT_URL == "https://pay.example.com/v1"


def test_every_problem_at_once() -> None:
    environ = {
        "STAGELINE_ENVIRONMENT": "production",
        "WORKERS": "two",
        "DEBUG": "maybe",
        "LOG_LEVEL": "verbose",
    }
    with pytest.raises(runtime.SettingsError) as caught:
        shop_settings().load(environ)
    assert caught.value.problems == [
        "DATABASE_URL: required, not set",
        "WORKERS: expected an integer, got 'two'",
        "DEBUG: expected a boolean (true/false, 1/0, yes/no, on/off), got 'maybe'",
        "PAYMENT_API_KEY: required in production, not set",
        "PAYMENT_URL: required in production, not set",
        "LOG_LEVEL: expected one of debug, info, warning, got 'verbose'",
    ]
    message = str(caught.value).splitlines()
    assert message[0] == "6 problems with the settings (tier production):"
    assert [line.strip() for line in message[1:]] == caught.value.problems
    assert isinstance(caught.value, ValueError)


def test_required_in_production_only() -> None:
    settings = runtime.Settings(KEY=runtime.secret(production=runtime.REQUIRED, default=""))
    assert runtime.Secret("") == settings.load({"APP_ENV": "staging"}).KEY
    with pytest.raises(runtime.SettingsError, match="KEY: required in production, not set"):
        settings.load({"APP_ENV": "production"})
    assert settings.load({"APP_ENV": "production", "KEY": "k"}).KEY.reveal() == "k"


def test_per_tier_default_replaces_required() -> None:
    settings = runtime.Settings(URL=runtime.url(development="http://localhost:8000"))
    assert settings.load({}).URL == "http://localhost:8000"
    with pytest.raises(runtime.SettingsError, match="URL: required, not set"):
        settings.load({"STAGELINE_TIER": "staging"})


def test_empty_value_counts_as_not_set() -> None:
    settings = runtime.Settings(WORKERS=runtime.integer(default=3), NAME=runtime.string())
    with pytest.raises(runtime.SettingsError) as caught:
        settings.load({"WORKERS": "", "NAME": "  "})
    assert caught.value.problems == ["NAME: required, not set"]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(v, True) for v in ("true", "TRUE", "1", "yes", "on", " On ")]
    + [(v, False) for v in ("false", "False", "0", "no", "off")],
)
def test_boolean(raw: str, expected: bool) -> None:
    assert runtime.Settings(X=runtime.boolean()).load({"X": raw}).X is expected


@pytest.mark.parametrize(
    ("field", "raw", "expected"),
    [
        (runtime.integer(), "1.5", "expected an integer, got '1.5'"),
        (runtime.integer(), "0x10", "expected an integer, got '0x10'"),
        (runtime.boolean(), "y", "expected a boolean (true/false, 1/0, yes/no, on/off), got 'y'"),
        (runtime.url(), "db.internal:5432", "expected a URL with a scheme and a host"),
        (runtime.url(), "http://", "expected a URL with a scheme and a host, got 'http://'"),
        (runtime.url(), "/just/a/path", "expected a URL with a scheme and a host"),
        (runtime.string(choices=("a", "b")), "c", "expected one of a, b, got 'c'"),
    ],
)
def test_parse_errors(field: runtime.settings.Field[object], raw: str, expected: str) -> None:
    with pytest.raises(runtime.SettingsError) as caught:
        runtime.Settings(X=field).load({"X": raw})
    assert len(caught.value.problems) == 1
    assert caught.value.problems[0].startswith(f"X: {expected}")


def test_integer_accepts_signs_and_spaces() -> None:
    assert runtime.Settings(X=runtime.integer()).load({"X": " -4 "}).X == -4


def test_listing_default_is_not_shared() -> None:
    settings = runtime.Settings(HOSTS=runtime.listing(default=["a"]))
    first = settings.load({}).HOSTS
    first.append("b")
    assert settings.load({}).HOSTS == ["a"]


def test_secret_never_shows() -> None:
    value = runtime.Secret("hunter2")
    assert repr(value) == str(value) == "Secret('****')"
    assert f"{value}" == "Secret('****')"
    assert value.reveal() == "hunter2"
    assert value == runtime.Secret("hunter2") and value != runtime.Secret("other")
    assert value != "hunter2"
    assert len({value, runtime.Secret("hunter2")}) == 1
    config = runtime.Settings(KEY=runtime.secret(), DEFAULTED=runtime.secret(default="s3cr3t"))
    loaded = config.load({"KEY": "hunter2"})
    assert "hunter2" not in repr(loaded) and "s3cr3t" not in repr(loaded)
    assert "hunter2" not in str(loaded)
    assert repr(loaded) == "Config(KEY=Secret('****'), DEFAULTED=Secret('****'))"
    assert loaded.DEFAULTED.reveal() == "s3cr3t"


def test_config_is_read_only() -> None:
    config = runtime.Settings(WORKERS=runtime.integer(default=2)).load({})
    with pytest.raises(AttributeError, match="read-only"):
        config.WORKERS = 3
    with pytest.raises(AttributeError, match=r"no setting 'WORKER'.*declared: WORKERS"):
        _ = config.WORKER


def test_declaration_must_use_fields() -> None:
    with pytest.raises(TypeError, match="setting WORKERS must be declared"):
        runtime.Settings(WORKERS=2)  # type: ignore[arg-type]


def test_load_defaults_to_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKERS", "5")
    assert runtime.Settings(WORKERS=runtime.integer()).load().WORKERS == 5
