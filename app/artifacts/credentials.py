"""Passwords in artifact URIs (ftp://user:password@host/path) stay in the server's configuration.

Runs, experiments, logged models and model versions keep their URIs without the password, and
every answer shows them so: anyone who may read a run must not learn the store's password. The
user name stays: it is no secret, it tells which of the configured credentials a URI stands
for, and SFTP logs in with it (its keys are the server's). The server opens stored URIs with
the repository of the configured root they lie under, which holds the password.
"""
from __future__ import annotations

import re

from ..errors import invalid

# scheme://authority, the authority ending at the first '/', '?' or '#' (RFC 3986)
_AUTHORITY = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)([^/?#]*)")


def password_prefix(uri: str) -> tuple[str, str] | None:
    """('scheme://user:password@', 'scheme://user@') of a URI with a password, else None."""
    match = _AUTHORITY.match(uri)
    if not match or "@" not in match.group(2):
        return None
    userinfo = match.group(2).rpartition("@")[0]  # a password may hold '@', a host never does
    user, _, password = userinfo.partition(":")
    return (f"{match.group(1)}{userinfo}@", f"{match.group(1)}{user}@") if password else None


def without_password(uri: str) -> str:
    """The URI without the password of its user info: ftp://user:pw@host/p -> ftp://user@host/p."""
    prefixes = password_prefix(uri)
    return prefixes[1] + uri[len(prefixes[0]):] if prefixes else uri


def refuse_password(uri: str, what: str) -> None:
    """INVALID_PARAMETER_VALUE for a client's URI that carries a password, which would be stored
    and shown to every reader; the message does not repeat the password."""
    shown = without_password(uri)
    if shown != uri:
        raise invalid(f"Invalid {what} '{shown}' with a password: this server does not store passwords in "
                      f"artifact URIs; send it without one (the server reads artifacts with the credentials "
                      f"of its own --default-artifact-root or --artifacts-destination)")
