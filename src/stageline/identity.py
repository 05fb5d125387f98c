"""Who is acting: recorded on every deployment and audit event."""

from __future__ import annotations

import getpass
import os
import socket
import subprocess


def current_actor() -> str:
    """``STAGELINE_ACTOR``, else the git user's email, else ``user@host``."""
    explicit = os.environ.get("STAGELINE_ACTOR")
    if explicit:
        return explicit
    try:
        email = subprocess.run(
            ["git", "config", "user.email"], capture_output=True, text=True, timeout=5
        ).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        email = ""
    return email or f"{getpass.getuser()}@{socket.gethostname()}"
