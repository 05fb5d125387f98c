"""Settings come from the environment; no database needed."""

from __future__ import annotations

import pytest
from shop.settings import NOWHERE_URL, SettingsError, load_settings, normalize_database_url


def test_missing_database_url_names_the_variable() -> None:
    with pytest.raises(SettingsError, match="DATABASE_URL"):
        load_settings({})


def test_plain_postgres_url_gets_the_psycopg_driver() -> None:
    settings = load_settings({"DATABASE_URL": "postgresql://u:p@db:5432/shop"})
    assert settings.database_url == "postgresql+psycopg://u:p@db:5432/shop"
    assert normalize_database_url("postgres://db/shop") == "postgresql+psycopg://db/shop"


def test_defaults_and_stageline_variables() -> None:
    base = {"DATABASE_URL": "postgresql+psycopg://db/shop"}
    assert load_settings(base).app_env == "development"
    assert load_settings(base).digest is None
    tagged = load_settings(
        {**base, "APP_ENV": "staging", "STAGELINE_VERSION": "1.7.0rc1", "STAGELINE_DIGEST": "d"}
    )
    assert (tagged.app_env, tagged.version, tagged.digest) == ("staging", "1.7.0rc1", "d")


def test_non_postgres_url_is_rejected() -> None:
    with pytest.raises(SettingsError, match="DATABASE_URL"):
        load_settings({"DATABASE_URL": "sqlite:///shop.db"})


def test_production_requires_the_providers_and_lists_every_missing_one() -> None:
    production = {"DATABASE_URL": "postgresql://db/shop", "APP_ENV": "production"}
    with pytest.raises(SettingsError) as raised:
        load_settings(production)
    message = str(raised.value)
    for name in ("PAYMENT_URL", "PAYMENT_API_KEY", "EMAIL_URL"):
        assert name in message


def test_outside_production_the_providers_default_to_nowhere() -> None:
    settings = load_settings({"DATABASE_URL": "postgresql://db/shop", "APP_ENV": "staging"})
    assert (settings.payment_url, settings.email_url) == (NOWHERE_URL, NOWHERE_URL)
    assert settings.payment_api_key.reveal() == ""


def test_the_api_key_is_a_masked_secret() -> None:
    settings = load_settings(
        {
            "DATABASE_URL": "postgresql://db/shop",
            "APP_ENV": "production",
            "PAYMENT_URL": "https://pay.example/v1/",
            "PAYMENT_API_KEY": "sk_live_123456",
            "EMAIL_URL": "https://mail.example/",
        }
    )
    assert settings.payment_api_key.reveal() == "sk_live_123456"
    assert "sk_live_123456" not in repr(settings)


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings({"DATABASE_URL": "sqlite:///shop.db", "APP_ENV": "production"})
    assert len(raised.value.problems) == 4
