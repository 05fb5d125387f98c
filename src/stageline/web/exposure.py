"""Who may read the dashboard without signing in, given where it listens (pure).

Anonymous reading is off unless the pipeline file says ``[dashboard] anonymous = "read"``,
and even then only on a loopback address: a dashboard reachable from other hosts shows
release evidence to signed-in people only. ``stageline serve --host 0.0.0.0`` with
anonymous reading on is refused (one line, with the two ways out) rather than quietly
changed, so nobody believes a dashboard is open that is not, or the reverse.
"""

from __future__ import annotations

import ipaddress

from stageline.errors import Refused


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address (``localhost``, 127.0.0.0/8, ``::1``).
    Any other name counts as reachable from elsewhere."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_exposure(host: str, anonymous: str) -> None:
    """Refuse to serve anonymous readers on an address other than loopback."""
    if anonymous == "none" or is_loopback(host):
        return
    raise Refused(
        f'refusing to serve {host} with [dashboard] anonymous = "{anonymous}": anyone who '
        "reaches it would read release evidence",
        hint='set anonymous = "none" (people sign in with a personal token), '
        "or listen on 127.0.0.1",
    )
