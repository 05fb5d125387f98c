"""What a service receives: interpolated vars, injected facts, masked output."""

from __future__ import annotations

import pytest

from stageline.config.model import Environment, Target, Tier
from stageline.config.resolve import PostgresFacts, ReleaseFacts, masked, service_environment
from stageline.errors import UnknownName, UsageError

PG = PostgresFacts("127.0.0.1", 5544, "shop", "s3cret/pw", "shop_db")
RELEASE = ReleaseFacts("1.7.0rc1", "sha256:" + "c" * 64)


def staging(**changes: object) -> Environment:
    fields: dict[str, object] = {
        "name": "staging",
        "tier": Tier.staging,
        "url": "http://127.0.0.1:8603",
        "target": Target(port=8603),
    }
    fields.update(changes)
    return Environment.model_validate(fields)


def test_service_without_database_url_gets_its_own_names() -> None:
    env = staging(
        vars={
            "POSTGRES_SERVER": "${postgres.host}",
            "POSTGRES_PORT": "${postgres.port}",
            "POSTGRES_DB": "${postgres.database}",
            "DB_PASSWORD": "${postgres.password}",
            "PUBLIC_URL": "${env.url}/",
            "BANNER": "$${not interpolated} ${env.tier}",
        }
    )
    got = service_environment(env, RELEASE, port=8603, postgres=PG, secrets={})
    assert got["POSTGRES_SERVER"] == "127.0.0.1" and got["POSTGRES_PORT"] == "5544"
    assert got["POSTGRES_DB"] == "shop_db" and got["DB_PASSWORD"] == "s3cret/pw"
    assert got["PUBLIC_URL"] == "http://127.0.0.1:8603/"
    assert got["BANNER"] == "${not interpolated} staging"
    assert got["DATABASE_URL"] == "postgresql://shop:s3cret%2Fpw@127.0.0.1:5544/shop_db"
    assert got["APP_ENV"] == "staging" and got["STAGELINE_DIGEST"] == RELEASE.digest
    assert got["PORT"] == "8603" and got["STAGELINE_VERSION"] == "1.7.0rc1"


def test_unknown_fact_lists_the_known_ones() -> None:
    env = staging(vars={"DB": "${postgres.hostname}"})
    with pytest.raises(UnknownName) as caught:
        service_environment(env, RELEASE, port=8603, postgres=PG, secrets={})
    assert "postgres.hostname" in str(caught.value) and "postgres.host" in caught.value.valid


def test_postgres_facts_without_postgres_say_what_to_declare() -> None:
    env = staging(vars={"DB": "${postgres.host}"})
    with pytest.raises(UnknownName) as caught:
        service_environment(env, RELEASE, port=8603, postgres=None, secrets={})
    assert "services.postgres" in (caught.value.hint or "")


def test_missing_secret_is_named_and_values_are_masked() -> None:
    env = staging(secrets=["PAYMENT_API_KEY"])
    with pytest.raises(UsageError, match="PAYMENT_API_KEY"):
        service_environment(env, RELEASE, port=8603, postgres=PG, secrets={})
    got = service_environment(
        env, RELEASE, port=8603, postgres=PG, secrets={"PAYMENT_API_KEY": "sk_live_123"}
    )
    shown = masked(got, {"PAYMENT_API_KEY": "sk_live_123"})
    assert shown["PAYMENT_API_KEY"] == "****"
    assert "s3cret" not in shown["DATABASE_URL"] and "****" in shown["DATABASE_URL"]
    assert "sk_live_123" not in str(shown)
