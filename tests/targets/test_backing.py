"""Per-environment PostgreSQL: missing extensions name the provider that has them."""

from __future__ import annotations

import pytest

from stageline.config.model import Postgres
from stageline.errors import BackingServiceError
from stageline.services.postgres import find_binaries
from stageline.targets.backing import _check_extensions


def test_embedded_provider_lacks_contrib_and_says_which_has_it() -> None:
    pg = Postgres(version=16, provider="embedded", extensions=["uuid-ossp", "plpgsql"])
    with pytest.raises(BackingServiceError) as caught:
        _check_extensions(find_binaries("embedded", 16), pg)
    assert "uuid-ossp" in str(caught.value) and "plpgsql" not in str(caught.value)
    assert 'provider = "system"' in (caught.value.hint or "")


def test_system_provider_has_contrib_extensions() -> None:
    # .ci/run installs Debian's postgresql (contrib included) when it is missing
    binaries = find_binaries("system")
    pg = Postgres(version=binaries.major, provider="system", extensions=["uuid-ossp", "pgcrypto"])
    _check_extensions(binaries, pg)
