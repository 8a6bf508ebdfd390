"""The client's address, as rate limits and login limits count it."""

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def client_address(request: HttpRequest) -> str:
    """The socket's address, unless TRUSTED_PROXY_COUNT says N proxies of ours stand in front:
    then the Nth X-Forwarded-For entry from the right, the address the outermost of them saw.
    Entries further left were written by the client and prove nothing, so they are never read;
    a request with fewer entries than proxies did not come through them, and its socket counts."""
    remote = request.META.get("REMOTE_ADDR", "")
    proxies = settings.TRUSTED_PROXY_COUNT
    if proxies <= 0:
        return remote
    forwarded = [entry.strip() for entry in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    if len(forwarded) < proxies:
        return remote
    try:
        return str(ipaddress.ip_address(forwarded[-proxies]))
    except ValueError:
        return remote


def address_block(address: str) -> str:
    """What one client controls: an IPv4 address, or the /64 an IPv6 host is usually given
    (counting single IPv6 addresses would let one host rotate through billions)."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if parsed.version == 4:
        return str(parsed)
    if parsed.ipv4_mapped is not None:
        return str(parsed.ipv4_mapped)
    return str(ipaddress.ip_network(f"{parsed}/64", strict=False))
