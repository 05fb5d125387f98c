"""The launcher: secrets sealed out of the process spec, masked output, signals, exit code."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from stageline.host.keyring import key_file_path
from stageline.host.procfs import is_alive
from stageline.launch import SEALED_VAR, wrap_command, wrap_service

SECRET = "sk_live_launcher_7f3e"
CHILD = r"""
import os, signal, sys, time
value = os.environ["API_KEY"]
half = len(value) // 2
sys.stdout.write("key=" + value[:half]); sys.stdout.flush(); time.sleep(0.3)
sys.stdout.write(value[half:] + "\n"); sys.stdout.flush()
sys.stderr.write("err " + value + "\n"); sys.stderr.flush()
print("pid", os.getpid(), flush=True)
if sys.argv[1] == "wait":
    signal.signal(signal.SIGTERM, lambda *_: (print("got term", flush=True), sys.exit(0)))
    while True:
        time.sleep(0.1)
sys.exit(7)
"""


def service_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    return {
        "PATH": os.environ["PATH"],
        "STAGELINE_SECRET_NAMES": "API_KEY",
        "API_KEY": SECRET,
        "LOG_LEVEL": "info",
        **(extra or {}),
    }


def wrapped(home: Path, mode: str) -> tuple[list[str], dict[str, str]]:
    return wrap_service(
        home, "staging", "sha256:" + "ab" * 32, [sys.executable, "-c", CHILD, mode], service_env()
    )


def test_the_spec_holds_no_secret_and_the_output_is_masked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("STAGELINE_MASTER_KEY", raising=False)
    monkeypatch.delenv("STAGELINE_MASTER_KEY_FILE", raising=False)
    argv, env = wrapped(tmp_path, "exit")
    assert SECRET not in json.dumps([argv, env]) and "API_KEY" not in env
    sealed = Path(env[SEALED_VAR])
    assert SECRET.encode() not in sealed.read_bytes()
    assert stat.S_IMODE(sealed.stat().st_mode) == 0o600
    assert env["STAGELINE_MASTER_KEY_FILE"] == str(key_file_path(tmp_path))
    done = subprocess.run(argv, env=env, capture_output=True, timeout=60)
    assert done.returncode == 7
    out = done.stdout.decode()
    assert SECRET not in out and done.stderr == b""
    assert "key=[secret:API_KEY]\n" in out and "err [secret:API_KEY]" in out


def test_sigterm_is_forwarded_once_and_the_child_dies_with_the_launcher(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("STAGELINE_MASTER_KEY", raising=False)
    argv, env = wrapped(tmp_path, "wait")
    log = tmp_path / "service.log"
    with log.open("wb") as sink:
        launcher = subprocess.Popen(argv, env=env, stdout=sink, start_new_session=True)
    try:
        child = _child_pid(log)
        assert os.getpgid(child) == child != os.getpgid(launcher.pid)  # its own group
        assert os.getsid(child) == os.getsid(launcher.pid)  # in the service's session
        environ = Path(f"/proc/{child}/environ").read_bytes().split(b"\0")
        assert f"API_KEY={SECRET}".encode() in environ
        launcher_environ = Path(f"/proc/{launcher.pid}/environ").read_bytes()
        assert SECRET.encode() not in launcher_environ
        launcher.send_signal(signal.SIGTERM)
        assert launcher.wait(timeout=30) == 0
        assert "got term" in log.read_text() and SECRET not in log.read_text()
        # again, and this time the launcher is killed outright: the child goes with it
        with log.open("wb") as sink:
            launcher = subprocess.Popen(argv, env=env, stdout=sink, start_new_session=True)
        child = _child_pid(log)
        os.kill(launcher.pid, signal.SIGKILL)
        launcher.wait(timeout=30)
        deadline = time.monotonic() + 10
        while is_alive(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not is_alive(child)
    finally:
        if launcher.poll() is None:
            os.killpg(launcher.pid, signal.SIGKILL)
            launcher.wait()


def _child_pid(log: Path) -> int:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for line in log.read_text().splitlines():
            if line.startswith("pid "):
                return int(line.split()[1])
        time.sleep(0.05)
    raise AssertionError(f"the child never started: {log.read_text()!r}")


def test_a_master_key_only_in_the_shell_is_refused_for_services(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import base64

    from stageline.errors import UsageError

    monkeypatch.setenv("STAGELINE_MASTER_KEY", base64.b64encode(os.urandom(32)).decode())
    with pytest.raises(UsageError, match="master key FILE"):
        wrapped(tmp_path, "exit")


def test_commands_without_secrets_are_not_wrapped() -> None:
    assert wrap_command(["alembic", "upgrade", "head"], {"PATH": "/bin"}) == [
        "alembic",
        "upgrade",
        "head",
    ]
    wrapped_argv = wrap_command(["alembic"], service_env())
    assert wrapped_argv[:3] == [sys.executable, "-m", "stageline.launch"]
