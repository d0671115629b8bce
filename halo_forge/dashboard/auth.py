"""The dashboard's access token: made once per workspace (0600), required off loopback and for every POST.

    token = ensure_token(workspace)       # <workspace>/.halo-forge/dashboard.token
    matches(given, token)                 # constant time (hmac.compare_digest)

A request carries the token as `Authorization: Bearer <token>` or `X-Halo-Forge-Token: <token>`. For
reads (GET/HEAD) the `halo_forge_token` cookie counts too: the URL that `halo-forge dashboard` prints
(`/?token=…`) sets it (SameSite=Strict), so the browser can load the pages and follow live events. A
POST needs the header: a cookie alone never launches or cancels a run, so another web site cannot make
the browser do it (and with CORS off it cannot read any answer).
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import secrets
from pathlib import Path

TOKEN_FILE = "dashboard.token"
COOKIE = "halo_forge_token"
HEADER = "x-halo-forge-token"
LOOPBACK_NAMES = ("localhost",)


def token_path(workspace) -> Path:
    return workspace.data_dir / TOKEN_FILE


def ensure_token(workspace) -> str:
    """The workspace's token, created on first use (owner read/write only); a looser file is tightened."""
    path = token_path(workspace)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        if path.stat().st_mode & 0o077:
            os.chmod(path, 0o600)
        token = path.read_text(encoding="utf-8").strip()
        if token:
            return token
        path.unlink()  # an empty file (a crash between create and write): make a new token
        return ensure_token(workspace)
    token = secrets.token_urlsafe(32)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(token + "\n")
    return token


def matches(given: str | None, token: str) -> bool:
    """Whether `given` is the token, compared in constant time."""
    if not given:
        return False
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), token.encode("utf-8"))


def is_loopback(host: str | None) -> bool:
    """127.0.0.0/8, ::1 or `localhost` (a bind address or a client address)."""
    if not host:
        return False
    host = host.strip("[]")
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def given_token(method: str, headers, cookies) -> str | None:
    """The token a request carries: a header always, the cookie for reads only."""
    auth = headers.get("authorization") or ""
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    if headers.get(HEADER):
        return headers.get(HEADER).strip()
    if method in ("GET", "HEAD"):
        return cookies.get(COOKIE)
    return None


def host_name(host_header: str | None) -> str:
    """The name part of a Host header (`[::1]:8765` → `::1`)."""
    host = (host_header or "").strip()
    if host.startswith("["):
        return host[1:host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host
