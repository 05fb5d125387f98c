"""The launcher: starts a service (or release command) with its secrets, masks its output.

``python -m stageline.launch -- ARGV...`` runs ARGV as its child. When
``STAGELINE_LAUNCH_SEALED`` names a sealed file (written by :func:`wrap_service` when the
local target builds a service's process spec), the launcher decrypts it with the master
key file (``STAGELINE_MASTER_KEY_FILE``) and gives the values to the child only: they are
never in the agent's ``desired.json``, never in the launcher's own environment, and never
on disk in plaintext. Every secret value the child prints (on stdout or stderr) reaches
the launcher's stdout, which the agent appends to the service's log, as
``[secret:NAME]``, even when a value is split across two reads.

The child gets its own process group inside the service's session (so a signal the
agent sends to the launcher's group reaches the service exactly once, forwarded), and is
killed if the launcher dies (``PR_SET_PDEATHSIG``). SIGTERM, SIGINT, SIGHUP and SIGQUIT
sent to the launcher are forwarded to the child's group; when the child has exited,
anything it left in its group is killed, and the launcher exits with the child's exit
code (128 + N when it was killed by signal N). So the pair behaves like the service
alone, and survives the agent's death as services always did.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import selectors
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from stageline.errors import UsageError
from stageline.host.keyring import (
    Keyring,
    load_keyring,
    read_key_file,
    seal,
    unseal,
    write_private_file,
)
from stageline.redact import Redactor
from stageline.values import Digest

SEALED_VAR = "STAGELINE_LAUNCH_SEALED"
LABEL_VAR = "STAGELINE_LAUNCH_LABEL"
KEY_FILE_VAR = "STAGELINE_MASTER_KEY_FILE"
NAMES_VAR = "STAGELINE_SECRET_NAMES"
#: a sealed release folder to check before starting (``targets/release_folder.py``)
FOLDER_VAR = "STAGELINE_LAUNCH_FOLDER"
_OWN = (SEALED_VAR, LABEL_VAR, KEY_FILE_VAR, FOLDER_VAR)
#: the launcher's exit code when the release folder was changed (EX_CONFIG)
CHANGED_EXIT = 78
_FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT)


def _names(env: Mapping[str, str]) -> list[str]:
    return [name for name in env.get(NAMES_VAR, "").split(",") if name]


def launcher_argv(argv: list[str]) -> list[str]:
    return [sys.executable, "-m", "stageline.launch", "--", *argv]


def sealed_path(home: Path, environment: str, digest: str) -> Path:
    return home / "envs" / environment / "secrets" / f"{Digest(digest).short}.sealed"


def wrap_service(
    home: Path, environment: str, digest: str, argv: list[str], env: Mapping[str, str]
) -> tuple[list[str], dict[str, str]]:
    """The argv and environment of a service process spec, with no secret value in them.

    The secret values (the variables named by ``STAGELINE_SECRET_NAMES``) are sealed under
    the master key into ``envs/<env>/secrets/<digest12>.sealed`` (mode 0600) instead; the
    launcher gives them to the service. Without secrets, nothing changes.
    """
    values = {name: env[name] for name in _names(env) if name in env}
    if not values:
        return list(argv), dict(env)
    keyring = load_keyring(home, create=True)
    if keyring.path is None:
        raise UsageError(
            f"{environment}'s service needs its secrets from a master key FILE: the launcher"
            " that gives them to it cannot read STAGELINE_MASTER_KEY from your shell",
            hint="write the key into a file (mode 0600) and set STAGELINE_MASTER_KEY_FILE to"
            " it, or unset STAGELINE_MASTER_KEY to use the default key file",
        )
    label = f"{environment}:{digest}"
    path = sealed_path(home, environment, digest)
    write_private_file(path, seal(keyring, label, values))
    plain = {k: v for k, v in env.items() if k not in values}
    plain.update({SEALED_VAR: str(path), LABEL_VAR: label, KEY_FILE_VAR: str(keyring.path)})
    return launcher_argv(list(argv)), plain


def checked_start(
    argv: list[str], env: Mapping[str, str], folder: Path
) -> tuple[list[str], dict[str, str]]:
    """The service's argv and environment (from ``wrap_service``) made to start through
    the launcher, which first checks the sealed release ``folder`` (every start: the
    agent's restarts of a crashed service too)."""
    wrapped = argv if argv[:3] == launcher_argv([])[:3] else launcher_argv(argv)
    return wrapped, {**env, FOLDER_VAR: str(folder)}


def folder_problem(env: Mapping[str, str]) -> str | None:
    """The first difference of the sealed release folder named in ``env``, or None."""
    folder = env.get(FOLDER_VAR)
    if not folder:
        return None
    from stageline.host.release_folder import check, is_sealed

    root = Path(folder)
    if not is_sealed(root):
        return None
    return check(root, full=False)


def wrap_command(argv: list[str], env: Mapping[str, str]) -> list[str]:
    """A command run with its secrets already in ``env``: only its output gets masked."""
    return launcher_argv(list(argv)) if any(env.get(n) for n in _names(env)) else list(argv)


def reseal_all(home: Path, keyring: Keyring) -> int:
    """Seal every launch file again under ``keyring``'s current key (``rotate-key``)."""
    count = 0
    for path in sorted((home / "envs").glob("*/secrets/*.sealed")):
        label = _label_of(path)
        write_private_file(path, seal(keyring, label, unseal(keyring, label, path.read_bytes())))
        count += 1
    return count


def _label_of(path: Path) -> str:
    import json

    return str(json.loads(path.read_bytes())["label"])


# -- the launcher process ----------------------------------------------------------------


def child_environment(env: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """(the child's environment, the secret values to mask) from the launcher's own."""
    secrets: dict[str, str] = {}
    if env.get(SEALED_VAR):
        keyring = read_key_file(Path(env[KEY_FILE_VAR]))
        label = env.get(LABEL_VAR, "")
        secrets = unseal(keyring, label, Path(env[SEALED_VAR]).read_bytes())
    child = {k: v for k, v in env.items() if k not in _OWN}
    child.update(secrets)
    masked = {name: child[name] for name in _names(child) if child.get(name)}
    return child, masked


def _die_with_parent() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def run(argv: list[str], env: Mapping[str, str]) -> int:
    child_env, masked = child_environment(env)
    redactor = Redactor(masked)
    pending: list[int] = []
    child: subprocess.Popen[bytes] | None = None

    def forward(signum: int, _frame: object) -> None:
        if child is None:
            pending.append(signum)
        elif child.poll() is None:
            _signal_group(child.pid, signum)

    for sig in _FORWARDED:
        signal.signal(sig, forward)
    try:
        child = subprocess.Popen(
            argv,
            env=child_env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            process_group=0,
            preexec_fn=_die_with_parent,
        )
    except OSError as exc:
        os.write(2, redactor.scrub(f"stageline.launch: cannot run {argv[0]}: {exc}\n").encode())
        return 127
    for signum in pending:
        _signal_group(child.pid, signum)
    assert child.stdout is not None
    _copy(child, child.stdout.fileno(), redactor)
    code = child.wait()
    _signal_group(child.pid, signal.SIGKILL)  # whatever it left running in its group
    return 128 - code if code < 0 else code


def _signal_group(pgid: int, signum: int) -> None:
    """Signal the child's process group (the service and any workers it started)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def _copy(child: subprocess.Popen[bytes], fd: int, redactor: Redactor) -> None:
    """Copy the child's output to our stdout, masked, until it ends (or the child exits
    and nothing more arrives: a grandchild may hold the pipe open)."""
    selector = selectors.DefaultSelector()
    selector.register(fd, selectors.EVENT_READ)
    quiet_after_exit = 0
    while True:
        ready = selector.select(timeout=0.2)
        if ready:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            _write(redactor.feed(chunk))
            continue
        if child.poll() is not None:
            quiet_after_exit += 1
            if quiet_after_exit >= 3:
                break
    _write(redactor.flush())
    selector.close()


def _write(data: bytes) -> None:
    while data:
        written = os.write(1, data)
        data = data[written:]


def main(args: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if args is None else args)
    if argv[:1] == ["--"]:
        argv = argv[1:]
    if not argv:
        os.write(2, b"usage: python -m stageline.launch -- COMMAND [ARGS...]\n")
        return 2
    problem = folder_problem(os.environ)
    if problem is not None:
        folder = os.environ[FOLDER_VAR]
        os.write(2, (f"stageline: refusing to start: the release folder {folder} was changed "
                     f"after it was prepared ({problem}); deploy the release again to "
                     "prepare it afresh from the verified artifact\n").encode())  # fmt: skip
        return CHANGED_EXIT
    return run(argv, dict(os.environ))


if __name__ == "__main__":
    sys.exit(main())
