"""Who is acting: recorded on every deployment, verdict and audit event."""

from __future__ import annotations

import getpass
import os
import socket
import subprocess


def current_actor() -> str:
    """Who runs this command: ``STAGELINE_USER``, else git's ``user.email``, else ``user@host``.

    The one place the CLI's identity comes from; the dashboard will pass an authenticated
    identity to the same use cases instead.
    """
    explicit = os.environ.get("STAGELINE_USER")
    if explicit:
        return explicit
    try:
        email = subprocess.run(
            ["git", "config", "user.email"], capture_output=True, text=True, timeout=5
        ).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        email = ""
    return email or f"{getpass.getuser()}@{socket.gethostname()}"
