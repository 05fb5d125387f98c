"""Settings come from the environment; no database needed."""

from __future__ import annotations

import pytest
from shop.settings import SettingsError, load_settings, normalize_database_url


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
