"""`stageline down` takes the deploy lock: it cannot stop an environment under a deploy.

The red team ran ``down`` while a deploy was switching: it stopped the environment under
the deploy's feet. Now ``down`` takes each environment's deploy lock (the one a deploy,
promotion or rollback holds), all of them before it stops anything.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from stageline.state.locks import environment_lock
from stageline.usecases.pipeline import Session
from tests.web.seed import seed

DEPLOYER = "deployer@shop.example"


def down(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "stageline", "down", *args, "-C", str(root)],
        capture_output=True,
        text=True,
        env={**os.environ, "STAGELINE_USER": "ops@shop.example"},
    )


def test_down_refuses_while_a_deploy_holds_the_lock_and_stops_nothing(tmp_path: Path) -> None:
    root = seed(tmp_path).root
    with (
        Session.open(root) as session,
        session.store.lock(environment_lock("staging"), holder=DEPLOYER),
    ):
        for args in ((), ("staging",)):
            refused = down(root, *args)
            assert refused.returncode == 3, refused.stdout + refused.stderr
            assert refused.stderr.startswith(f"error: deploy:staging is locked by {DEPLOYER}@")
            assert f"(pid {os.getpid()})" in refused.stderr
        elsewhere = down(root, "production")  # another environment's lock is free
        assert elsewhere.returncode == 0, elsewhere.stderr
    with Session.open(root) as session:
        assert not [e for e in session.store.events() if e.kind == "environment.down"]
    after = down(root)  # released: down takes every lock and goes on
    assert after.returncode == 0, after.stderr
