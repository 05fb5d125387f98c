"""The master key and authenticated encryption (AES-256-GCM) of secret values.

The key never lives in the state store, nor (by default) in the service's repository. It
comes from ``STAGELINE_MASTER_KEY`` (32 bytes, base64) or from a key file, created on first
need with mode 0600 (folder 0700) at, in order:

1. ``STAGELINE_MASTER_KEY_FILE``;
2. ``<.stageline>/keys/master.key`` when that file exists (made by stageline before 0.2:
   it keeps being read where it is, because running services' launchers name it; the
   ``.gitignore`` entry and the build's tracked-files check keep it out of git);
3. ``$XDG_CONFIG_HOME/stageline/<workspace>/master.key`` (``~/.config`` without
   XDG_CONFIG_HOME), where ``<workspace>`` is the repository folder's name and a hash of
   the ``.stageline`` folder's absolute path: one key per workspace, outside it.

A key file holds one key per line, ``<key id> <base64 key>``, the current key first;
during ``rotate-key`` it briefly holds the old key too, so a crash mid-rotation loses
nothing.

Every ciphertext is ``nonce (12 bytes) + AES-GCM(value)`` with associated data naming its
environment and secret, so a ciphertext copied onto another row does not decrypt.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from stageline.errors import Refused, UsageError

MASTER_KEY_VAR = "STAGELINE_MASTER_KEY"
MASTER_KEY_FILE_VAR = "STAGELINE_MASTER_KEY_FILE"
KEY_BYTES = 32
NONCE_BYTES = 12


def key_id_of(key: bytes) -> str:
    """A short public name for a key (a hash of it; it reveals nothing usable)."""
    return "k" + hashlib.sha256(b"stageline-master-key-id\0" + key).hexdigest()[:15]


def new_key() -> bytes:
    return AESGCM.generate_key(bit_length=KEY_BYTES * 8)


@dataclass(frozen=True)
class Keyring:
    """The keys in use: ``keys[0]`` encrypts; any of them decrypts its own ciphertexts."""

    keys: tuple[bytes, ...]
    #: the key file, or None when the key came from STAGELINE_MASTER_KEY
    path: Path | None

    @property
    def current_id(self) -> str:
        return key_id_of(self.keys[0])

    def key(self, key_id: str) -> bytes:
        for key in self.keys:
            if key_id_of(key) == key_id:
                return key
        raise Refused(
            f"no master key with id {key_id} (this key is {self.current_id})",
            hint="use the key the secrets were set with (STAGELINE_MASTER_KEY or its key file)",
        )


def key_file_path(home: Path) -> Path:
    """Where the master key file of the workspace whose folder is ``home`` is (or goes)."""
    explicit = os.environ.get(MASTER_KEY_FILE_VAR)
    if explicit:
        return Path(explicit).resolve()
    legacy = home / "keys" / "master.key"
    return legacy if legacy.is_file() else config_folder(home) / "master.key"


def config_folder(home: Path) -> Path:
    """``$XDG_CONFIG_HOME/stageline/<name>-<hash>``: this workspace's folder outside it."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    where = home.resolve()
    digest = hashlib.sha256(str(where).encode()).hexdigest()[:12]
    name = where.parent.name if where.name == ".stageline" else where.name
    return Path(base).resolve() / "stageline" / f"{name or 'root'}-{digest}"


def load_keyring(home: Path, *, create: bool = False) -> Keyring:
    """The master key(s): from STAGELINE_MASTER_KEY, else the key file (made if ``create``)."""
    raw = os.environ.get(MASTER_KEY_VAR)
    if raw:
        return Keyring((_decode(raw.strip(), MASTER_KEY_VAR),), None)
    path = key_file_path(home)
    if not path.is_file():
        if not create:
            raise UsageError(
                f"no master key: {MASTER_KEY_VAR} is not set and {path} does not exist",
                hint="`stageline secrets set` creates the key file; or set STAGELINE_MASTER_KEY",
            )
        write_key_file(path, (new_key(),))
    return read_key_file(path)


def read_key_file(path: Path) -> Keyring:
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise UsageError(
            f"the master key file {path} is readable by others (mode {stat.filemode(mode)})",
            hint=f"chmod 600 {path}",
        )
    keys: list[bytes] = []
    for number, line in enumerate(path.read_text(encoding="ascii").splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split()
        key = _decode(parts[-1], f"{path}:{number}")
        if len(parts) == 2 and parts[0] != key_id_of(key):
            raise UsageError(f"{path}:{number}: the key does not match its id {parts[0]}")
        keys.append(key)
    if not keys:
        raise UsageError(f"the master key file {path} holds no key")
    return Keyring(tuple(keys), path)


def write_key_file(path: Path, keys: tuple[bytes, ...]) -> None:
    """Write the key file atomically, mode 0600 from the first byte, folder 0700."""
    text = "".join(f"{key_id_of(key)} {base64.b64encode(key).decode()}\n" for key in keys)
    write_private_file(path, text.encode("ascii"))


def write_private_file(path: Path, data: bytes) -> None:
    """Write ``path`` atomically, mode 0600 from the first byte, its folder made 0700."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    scratch = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(scratch, path)


def _decode(text: str, where: str) -> bytes:
    try:
        key = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != KEY_BYTES:
        raise UsageError(
            f"{where} is not a base64 {KEY_BYTES}-byte key",
            hint='make one with: python -c "import os,base64;'
            ' print(base64.b64encode(os.urandom(32)).decode())"',
        )
    return key


# -- one secret ------------------------------------------------------------------------


def _associated(environment: str, name: str) -> bytes:
    return f"stageline:secret:{environment}:{name}".encode()


def encrypt(keyring: Keyring, environment: str, name: str, value: str) -> tuple[bytes, str]:
    """``(nonce + ciphertext, key id)`` of ``value``, bound to ``environment`` and ``name``."""
    nonce = os.urandom(NONCE_BYTES)
    sealed = AESGCM(keyring.keys[0]).encrypt(nonce, value.encode(), _associated(environment, name))
    return nonce + sealed, keyring.current_id


def decrypt(keyring: Keyring, environment: str, name: str, blob: bytes, key_id: str) -> str:
    """The value; ``Refused`` if the key is wrong or the ciphertext belongs elsewhere."""
    key = keyring.key(key_id)
    try:
        plain = AESGCM(key).decrypt(
            blob[:NONCE_BYTES], blob[NONCE_BYTES:], _associated(environment, name)
        )
    except (InvalidTag, ValueError):
        raise Refused(
            f"secret {name} of {environment} does not decrypt: its ciphertext was changed"
            " or belongs to another secret",
            hint=f"set it again: `stageline secrets set {environment} {name}`",
        ) from None
    return plain.decode()


# -- a sealed set of values (for the launcher) -------------------------------------------


def seal(keyring: Keyring, label: str, values: Mapping[str, str]) -> bytes:
    """A JSON document holding ``values`` encrypted under the current key, bound to ``label``."""
    nonce = os.urandom(NONCE_BYTES)
    plain = json.dumps(dict(values), sort_keys=True).encode()
    blob = nonce + AESGCM(keyring.keys[0]).encrypt(nonce, plain, label.encode())
    document = {
        "key_id": keyring.current_id,
        "label": label,
        "blob": base64.b64encode(blob).decode(),
    }
    return json.dumps(document).encode()


def unseal(keyring: Keyring, label: str, data: bytes) -> dict[str, str]:
    document = json.loads(data)
    blob = base64.b64decode(document["blob"])
    key = keyring.key(str(document["key_id"]))
    try:
        plain = AESGCM(key).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], label.encode())
    except InvalidTag:
        raise Refused(f"sealed secrets for {label} do not decrypt") from None
    values = json.loads(plain)
    return {str(k): str(v) for k, v in values.items()}
