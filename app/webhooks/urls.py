"""Which URLs a webhook endpoint may have: http(s), and no internal hosts.

Outside DEVELOPMENT and TESTING an endpoint must be https:// and its host must
resolve only to public addresses, so a merchant cannot make the server call
its own network (SSRF). The host is checked when the URL is saved, and each
delivery looks it up once more, checks every address and connects to one of
those addresses rather than to the name, so a DNS answer that changes between
the check and the connection (rebinding) cannot point the request inward.
"""

import ipaddress
import socket
from urllib.parse import urlsplit

from flask import current_app

MAX_URL = 2000


class WebhookURLError(ValueError):
    """A URL an endpoint may not have; the message says why."""


def allows_http() -> bool:
    """Return True if endpoints may use http:// (WEBHOOK_ALLOW_HTTP)."""
    return _setting("WEBHOOK_ALLOW_HTTP")


def allows_private() -> bool:
    """Return True if endpoints may reach internal hosts (WEBHOOK_ALLOW_PRIVATE)."""
    return _setting("WEBHOOK_ALLOW_PRIVATE")


def _setting(key: str) -> bool:
    value = current_app.config[key]
    if value is None:
        return bool(current_app.config["DEVELOPMENT"] or current_app.config["TESTING"])
    return bool(value)


def check_url(url: str, *, resolve: bool = True) -> str:
    """Return the URL stripped if an endpoint may have it; raise WebhookURLError.

    With `resolve`, the host's addresses are looked up and each must be public
    unless WEBHOOK_ALLOW_PRIVATE is on.
    """
    url = url.strip()
    if len(url) > MAX_URL:
        raise WebhookURLError(f"A URL is at most {MAX_URL} characters.")
    if any(character.isspace() or not character.isprintable() for character in url):
        raise WebhookURLError(
            "A URL has no spaces or control characters: encode them (%20)."
        )
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise WebhookURLError("That is not a valid URL.") from exc
    schemes = ("https", "http") if allows_http() else ("https",)
    if parts.scheme not in schemes:
        raise WebhookURLError(
            "The URL must start with https://."
            if schemes == ("https",)
            else "The URL must start with https:// or http://."
        )
    if not parts.hostname:
        raise WebhookURLError("The URL has no host.")
    if parts.username or parts.password:
        raise WebhookURLError("Leave the user name and password out of the URL.")
    if resolve and not allows_private():
        _vetted(parts.hostname, port or _default_port(parts.scheme))
    return url


def vetted_addresses(url: str) -> list[str]:
    """Look the URL's host up once; return its addresses, each checked.

    Every address must be public unless WEBHOOK_ALLOW_PRIVATE is on; raises
    WebhookURLError otherwise or if the host does not resolve. Connect to these
    addresses, not to the name: looking the name up again may answer otherwise.
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    return [str(ip) for ip in _vetted(host, parts.port or _default_port(parts.scheme))]


def _default_port(scheme: str) -> int:
    return 443 if scheme == "https" else 80


def _vetted(
    host: str, port: int
) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """Resolve the host; return its addresses if each may be reached."""
    try:
        answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise WebhookURLError(f"The host {host} cannot be resolved.") from exc
    addresses = []
    for *_, sockaddr in answers:
        # Without an IPv6 zone ("%eth0"): it does not belong in a URL.
        ip = ipaddress.ip_address(sockaddr[0].partition("%")[0])
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
            ip = ip.ipv4_mapped
        if not allows_private() and not ip.is_global:
            raise WebhookURLError(
                f"The host {host} is on a private or local network ({ip})."
            )
        if ip not in addresses:
            addresses.append(ip)
    if not addresses:
        raise WebhookURLError(f"The host {host} cannot be resolved.")
    return addresses
