"""SSH signatures over what a person decided, made and checked with ``ssh-keygen -Y``.

As git does with ``gpg.format = ssh``: a person signs with their own key, and anyone can
check the signature against an *allowed signers* file (one line per person and key, see
ssh-keygen(1) "ALLOWED SIGNERS"), here named by the pipeline file's ``[access]
allowed_signers``. What is signed is a :class:`Statement` (action, environment, digest,
person, time, note) in one canonical form (:meth:`Statement.payload`), under the
namespace ``stageline``, so a signature made for git or for another program is never
valid here.

Three checks, three ``ssh-keygen`` calls:

- :func:`sign`: ``-Y sign -f KEY -n stageline`` over the payload on stdin;
- :func:`verify`: ``-Y verify -f ALLOWED -I PERSON -n stageline -s SIG`` with
  ``-O verify-time=`` the statement's time: the key must be the person's in the allowed
  signers file *at the time the statement was signed* (a retired key kept with
  ``valid-before=`` still verifies what it signed before; a key deleted from the file
  verifies nothing any more);
- :func:`fingerprint_of`: ``-Y check-novalidate``: the signature matches the payload at
  all, whoever made it (to name the key of a signature no longer allowed).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from stageline.errors import InfrastructureError, Refused

NAMESPACE = "stageline"
_FINGERPRINT = re.compile(r"(SHA256:[A-Za-z0-9+/=]+)")
_TIMEOUT = 30


@dataclass(frozen=True)
class Statement:
    """What a person signs: ``action`` on ``digest`` in ``environment``, at ``at`` (ISO
    8601, UTC, seconds), with their ``note``."""

    action: str
    environment: str
    digest: str
    person: str
    at: str
    note: str = ""

    def payload(self) -> bytes:
        """The canonical bytes signed: sorted-key compact JSON, ASCII only, a version tag."""
        fields = {"stageline": "statement/v1", **asdict(self)}
        return json.dumps(fields, sort_keys=True, separators=(",", ":")).encode("ascii")

    @property
    def when(self) -> datetime:
        return datetime.fromisoformat(self.at)


def now_text(now: datetime | None = None) -> str:
    """A statement's time: UTC, whole seconds, ISO 8601."""
    return (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0).isoformat()


def _ssh_keygen() -> str:
    found = shutil.which("ssh-keygen")
    if found is None:
        raise InfrastructureError(
            "ssh-keygen is not installed: signatures cannot be made or checked",
            hint="install openssh-client (apt-get install openssh-client)",
        )
    return found


def _run(args: list[str], data: bytes) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [_ssh_keygen(), *args], input=data, capture_output=True, timeout=_TIMEOUT, check=False
    )


def _first_line(raw: bytes) -> str:
    lines = raw.decode("utf-8", "replace").strip().splitlines()
    return lines[-1] if lines else "no output"


def sign(statement: Statement, key: Path) -> str:
    """The armored SSH signature of ``statement`` by the private ``key`` (or, given a
    public key, by the ssh-agent holding its private half). ``Refused`` if it cannot."""
    if not key.expanduser().is_file():
        raise Refused(f"no signing key at {key}", hint="--sign-with takes a private key file")
    done = _run(
        ["-Y", "sign", "-q", "-f", str(key.expanduser()), "-n", NAMESPACE], statement.payload()
    )
    text = done.stdout.decode("ascii", "replace")
    if done.returncode != 0 or "BEGIN SSH SIGNATURE" not in text:
        raise Refused(
            f"ssh-keygen could not sign with {key}: {_first_line(done.stderr)}",
            hint="use an unencrypted key, or load it into ssh-agent and pass its .pub",
        )
    return text.strip() + "\n"


def _with_signature(
    armored: str, args: list[str], data: bytes
) -> subprocess.CompletedProcess[bytes]:
    with tempfile.TemporaryDirectory(prefix="stageline-sig-") as folder:
        path = Path(folder) / "statement.sig"
        path.write_text(armored, encoding="ascii")
        return _run([*args, "-s", str(path)], data)


def verify(statement: Statement, armored: str, allowed_signers: Path) -> str:
    """The fingerprint of the key that signed ``statement``, if ``allowed_signers`` lists
    it for ``statement.person`` at the statement's time; ``Refused`` naming why not."""
    if not allowed_signers.is_file():
        raise Refused(
            f"the allowed signers file {allowed_signers} does not exist",
            hint="[access] allowed_signers names it, relative to the pipeline file",
        )
    when = statement.when.astimezone(UTC).strftime("%Y%m%d%H%M%SZ")
    args = ["-Y", "verify", "-f", str(allowed_signers), "-I", statement.person]
    args += ["-n", NAMESPACE, "-O", f"verify-time={when}"]
    done = _with_signature(armored, args, statement.payload())
    found = _FINGERPRINT.search(done.stdout.decode("utf-8", "replace"))
    if done.returncode != 0 or found is None:
        signer = fingerprint_of(statement, armored)
        who = f"key {signer}" if signer else "the signature"
        raise Refused(
            f"{who} is not {statement.person}'s in {allowed_signers.name}"
            if signer
            else f"the signature does not match what {statement.person} claims to sign",
            hint=f"add `{statement.person} <public key>` to {allowed_signers} (as git's"
            " allowed signers), or sign with the key listed there",
        ) from None
    return found.group(1)


def fingerprint_of(statement: Statement, armored: str) -> str | None:
    """The fingerprint of the key that made ``armored`` if it is a good signature of
    ``statement`` at all (whoever's key it is), else None."""
    args = ["-Y", "check-novalidate", "-n", NAMESPACE]
    done = _with_signature(armored, args, statement.payload())
    found = _FINGERPRINT.search(done.stdout.decode("utf-8", "replace"))
    return found.group(1) if done.returncode == 0 and found else None
