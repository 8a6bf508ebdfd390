"""Where webhooks may be sent: https, and never to a private, loopback, link-local, multicast,
reserved or metadata address, whatever spelling the URL uses.

A URL is checked when it is saved (by resolving its host) and again when a delivery connects
(against the address actually connected to, so a DNS answer that changes meanwhile cannot
redirect a delivery inside the network).
"""

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings


class UnsafeTarget(Exception):
    pass


def is_public_address(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is not None:
            ip = embedded
        elif ip in ipaddress.ip_network("64:ff9b::/96"):  # NAT64 carries an IPv4 address too
            ip = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip.is_global and not (ip.is_multicast or ip.is_reserved)


def check_url(url: str) -> None:
    """Raise `UnsafeTarget` unless `url` may receive webhooks."""
    parts = urlsplit(url)
    allow_private = settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS
    allowed_schemes = ("https", "http") if allow_private else ("https",)
    if parts.scheme not in allowed_schemes:
        raise UnsafeTarget("Use an https URL.")
    if not parts.hostname:
        raise UnsafeTarget("The URL has no host.")
    if allow_private:
        return
    try:
        port = parts.port or 443
        addresses = {info[4][0] for info in socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)}
    except (OSError, ValueError, UnicodeError) as error:
        raise UnsafeTarget(f"The host {parts.hostname!r} does not resolve.") from error
    if not all(is_public_address(address) for address in addresses):
        raise UnsafeTarget("The URL points to a private, loopback, link-local or reserved address.")


def check_connected_address(address: str) -> None:
    if not settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS and not is_public_address(address):
        raise UnsafeTarget(f"Refused to deliver to the non-public address {address}.")
