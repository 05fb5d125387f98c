"""The entry point of every stageline image (``/stageline/launch.py``): standard library
only, since it runs with the image's own Python, not stageline's.

``launch.py web``: the ``start`` command of the release (``/stageline/release.json``),
``{port}`` and ``PORT`` set to ``STAGELINE_PORT_BASE + STAGELINE_SLOT`` (the Swarm task's
slot, from the service's ``{{.Task.Slot}}`` template), so replica N of a release listens
on its own port of the host (host networking: two tasks cannot share one); ``{host}``
set to ``STAGELINE_LISTEN`` (the target's ``listen`` address; default 127.0.0.1).
``launch.py worker NAME``: that process type's command, no port.
``launch.py health``: exit 0 if ``http://LISTEN:PORT<health>`` answers 200 (Swarm's
health check of the task; a wildcard ``listen`` is asked on the loopback).
``launch.py run -- ARGV...``: a one-off command.

Secrets are never in the container's environment as the engine records it: the
variables named in ``STAGELINE_SECRET_FILES`` are read from files, ``/run/secrets/NAME``
(Swarm secrets) or one JSON object in ``STAGELINE_SECRETS_FILE`` (a one-off ``docker
run``), and given to the command only.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
import urllib.request
from pathlib import Path

HOME = Path("/stageline")
SECRETS = Path("/run/secrets")


def release() -> dict[str, object]:
    loaded = json.loads((HOME / "release.json").read_text())
    assert isinstance(loaded, dict)
    return loaded


def port() -> int:
    return int(os.environ["STAGELINE_PORT_BASE"]) + int(os.environ.get("STAGELINE_SLOT", "1"))


def host() -> str:
    """The address the task listens on (``{host}`` in the start command)."""
    return os.environ.get("STAGELINE_LISTEN") or "127.0.0.1"


def health_url(path: object) -> str:
    """Where the task's own health check asks: its address (the loopback for a wildcard)."""
    address = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host(), host())
    return f"http://{f'[{address}]' if ':' in address else address}:{port()}{path}"


def secrets() -> dict[str, str]:
    names = [n for n in os.environ.get("STAGELINE_SECRET_FILES", "").split(",") if n]
    values: dict[str, str] = {}
    given = os.environ.get("STAGELINE_SECRETS_FILE")
    if given:
        values.update(json.loads(Path(given).read_text()))
    for name in names:
        path = SECRETS / name
        if name not in values and path.is_file():
            values[name] = path.read_text()
    return values


def execute(argv: list[str], env: dict[str, str]) -> None:
    os.environ.clear()
    os.environ.update(env)
    os.execvp(argv[0], argv)


def main(args: list[str]) -> int:
    meta = release()
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("STAGELINE_SECRETS_FILE", "STAGELINE_SECRET_FILES")
    }
    env.update(secrets())
    if args[:1] == ["health"]:
        url = health_url(meta["health"])
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:
                return 0 if answer.status == 200 else 1
        except OSError:
            return 1
    if args[:1] == ["web"]:
        env["PORT"] = str(port())
        command = str(meta["start"]).replace("{port}", env["PORT"]).replace("{host}", host())
        execute(shlex.split(command), env)
    if args[:1] == ["worker"] and len(args) == 2:
        processes = meta.get("processes")
        assert isinstance(processes, dict)
        env.pop("PORT", None)
        execute(shlex.split(str(processes[args[1]])), env)
    if args[:2] == ["run", "--"] and len(args) > 2:
        execute(args[2:], env)
    print(
        f"usage: launch.py web | worker NAME | health | run -- ARGV (got {args})", file=sys.stderr
    )
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
