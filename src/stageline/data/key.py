"""The masking key: held by stageline, never stored in a snapshot or the state store.

From, in order: the ``[data] key`` setting (``env:NAME`` or ``file:PATH``), the
``STAGELINE_MASKING_KEY`` variable, or ``.stageline/keys/masking.key`` (created once with
32 random bytes, mode 0600).
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from stageline.data.masking import MaskingKey
from stageline.data.rules import DataRules
from stageline.errors import UsageError

KEY_VARIABLE = "STAGELINE_MASKING_KEY"
MIN_KEY_CHARS = 16


def key_file(home: Path) -> Path:
    return home / "keys" / "masking.key"


def load_key(home: Path, rules: DataRules) -> MaskingKey:
    """The masking key for this workspace (creating the default key file on first use)."""
    source = rules.key
    if source and source.startswith("env:"):
        name = source.removeprefix("env:")
        if not os.environ.get(name):
            raise UsageError(
                f"the masking key variable {name} is not set ([data] key = {source!r})",
                hint=f"export {name} (at least {MIN_KEY_CHARS} characters)",
            )
        return _checked(os.environ[name], source)
    if source:
        path = Path(source.removeprefix("file:")).expanduser()
        path = path if path.is_absolute() else home.parent / path
        try:
            return _checked(path.read_text(encoding="utf-8"), source)
        except OSError as exc:
            raise UsageError(
                f"cannot read the masking key file {path}: {exc.strerror}",
                hint="create it (mode 0600) or change [data] key",
            ) from exc
    if os.environ.get(KEY_VARIABLE):
        return _checked(os.environ[KEY_VARIABLE], KEY_VARIABLE)
    return _checked(_default_file(home), str(key_file(home)))


def _default_file(home: Path) -> str:
    path = key_file(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    with contextlib.suppress(FileExistsError):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32) + "\n")
    return path.read_text(encoding="utf-8")


def _checked(text: str, where: str) -> MaskingKey:
    text = text.strip()
    if len(text) < MIN_KEY_CHARS:
        raise UsageError(
            f"the masking key from {where} is too short ({len(text)} characters)",
            hint=f"use at least {MIN_KEY_CHARS} random characters, e.g. `openssl rand -hex 32`",
        )
    return MaskingKey(text.encode("utf-8"))
