"""Where webhooks may be sent: https, and never to a special-purpose address (private, loopback,
link-local, shared, reserved, documentation, benchmarking, metadata…), whatever spelling the URL uses.

A URL is read with the parser the transport uses (urllib3's `parse_url`), and refused when another
parser could read it differently (userinfo, backslashes, whitespace, numeric hosts in odd forms):
what was checked is what gets connected to. It is checked when saved (by resolving its host) and
again when a delivery connects: the transport resolves the host once (`resolve`), checks every
address it got, and connects to a checked one, so a DNS answer that changes meanwhile cannot
redirect a delivery inside the network.
"""

import ipaddress
import os
import re
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from urllib3.exceptions import LocationParseError
from urllib3.util import parse_url


class UnsafeTarget(Exception):
    pass


# The IANA IPv4 Special-Purpose Address Registry (iana-ipv4-special-registry) and the multicast
# block of the IPv4 Multicast Address Space registry. Every block is refused, even the few the
# registry marks globally reachable (anycast DNS sinks, PCP and TURN anycast): no webhook receiver
# lives there. (address block, name, reference)
SPECIAL_PURPOSE_IPV4 = [
    ("0.0.0.0/8", '"This network"', "RFC 791"),
    ("10.0.0.0/8", "Private-Use", "RFC 1918"),
    ("100.64.0.0/10", "Shared Address Space (carrier-grade NAT; Alibaba's metadata)", "RFC 6598"),
    ("127.0.0.0/8", "Loopback", "RFC 1122"),
    ("169.254.0.0/16", "Link Local (cloud metadata)", "RFC 3927"),
    ("172.16.0.0/12", "Private-Use", "RFC 1918"),
    ("192.0.0.0/24", "IETF Protocol Assignments (DS-Lite, dummy, PCP/TURN anycast, NAT64 discovery)", "RFC 6890"),
    ("192.0.2.0/24", "Documentation (TEST-NET-1)", "RFC 5737"),
    ("192.31.196.0/24", "AS112-v4", "RFC 7535"),
    ("192.52.193.0/24", "AMT", "RFC 7450"),
    ("192.88.99.0/24", "Deprecated (6to4 Relay Anycast)", "RFC 7526"),
    ("192.168.0.0/16", "Private-Use", "RFC 1918"),
    ("192.175.48.0/24", "Direct Delegation AS112 Service", "RFC 7534"),
    ("198.18.0.0/15", "Benchmarking", "RFC 2544"),
    ("198.51.100.0/24", "Documentation (TEST-NET-2)", "RFC 5737"),
    ("203.0.113.0/24", "Documentation (TEST-NET-3)", "RFC 5737"),
    ("224.0.0.0/4", "Multicast", "RFC 5771"),
    ("240.0.0.0/4", "Reserved", "RFC 1112"),
    ("255.255.255.255/32", "Limited Broadcast", "RFC 919"),
]

# Only the global unicast space of the IANA IPv6 Address Space registry is reachable; the rest is
# reserved, unique-local, link-local or multicast.
IPV6_GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")

# These carry an IPv4 address in their last 32 bits, which is checked instead.
IPV4_EMBEDDED = [
    ("::ffff:0:0/96", "IPv4-mapped Address", "RFC 4291"),
    ("64:ff9b::/96", "IPv4-IPv6 Translation (NAT64)", "RFC 6052"),
]

# The IANA IPv6 Special-Purpose Address Registry (iana-ipv6-special-registry), and multicast.
SPECIAL_PURPOSE_IPV6 = [
    ("::1/128", "Loopback Address", "RFC 4291"),
    ("::/128", "Unspecified Address", "RFC 4291"),
    ("::/96", "IPv4-compatible Address (deprecated)", "RFC 4291"),
    ("64:ff9b:1::/48", "IPv4-IPv6 Translation, local use", "RFC 8215"),
    ("100::/64", "Discard-Only Address Block", "RFC 6666"),
    ("100:0:0:1::/64", "Dummy IPv6 Prefix", "RFC 9780"),
    ("2001::/23", "IETF Protocol Assignments (TEREDO, benchmarking, AMT, AS112, ORCHID…)", "RFC 2928"),
    ("2001::/32", "TEREDO", "RFC 4380"),
    ("2001:db8::/32", "Documentation", "RFC 3849"),
    ("2002::/16", "6to4", "RFC 3056"),
    ("2620:4f:8000::/48", "Direct Delegation AS112 Service", "RFC 7534"),
    ("3fff::/20", "Documentation", "RFC 9637"),
    ("5f00::/16", "Segment Routing (SRv6) SIDs", "RFC 9602"),
    ("fc00::/7", "Unique-Local", "RFC 4193"),
    ("fe80::/10", "Link-Local Unicast", "RFC 4291"),
    ("ff00::/8", "Multicast", "RFC 4291"),
]

_V4_BLOCKS = [ipaddress.IPv4Network(block) for block, _, _ in SPECIAL_PURPOSE_IPV4]
_V6_BLOCKS = [ipaddress.IPv6Network(block) for block, _, _ in SPECIAL_PURPOSE_IPV6]
_V6_EMBEDDING = [ipaddress.IPv6Network(block) for block, _, _ in IPV4_EMBEDDED]


def is_public_address(address: str) -> bool:
    """Whether `address` (an IP literal, as a socket reports it) lies outside every special-purpose block."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id:
            return False
        if any(ip in block for block in _V6_EMBEDDING):
            return is_public_address(str(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)))
        return ip in IPV6_GLOBAL_UNICAST and not any(ip in block for block in _V6_BLOCKS)
    return not any(ip in block for block in _V4_BLOCKS)


# What a webhook URL may contain: RFC 3986's characters, less those parsers disagree on.
_URL_CHARACTERS = re.compile(r"[A-Za-z0-9\-._~:/?\[\]@!$&'()*+,;=%]+")
_LABEL = re.compile(r"[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?")
_NUMERIC_LABEL = re.compile(r"[0-9]+|0x[0-9a-f]*")


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str  # as the transport connects to it: a name, an IPv4 address or an IPv6 one (no brackets)
    port: int


def parse(url: str) -> Target:
    """Read `url` as the transport will, or raise `UnsafeTarget` when it is not a plain
    `scheme://host[:port]/path?query` that every parser reads alike."""
    allowed_schemes = ("https", "http") if settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS else ("https",)
    if not _URL_CHARACTERS.fullmatch(url):
        raise UnsafeTarget("The URL contains characters that are not allowed (spaces, backslashes, non-ASCII…).")
    if "#" in url:
        raise UnsafeTarget("The URL must not have a fragment.")
    try:
        parsed = parse_url(url)
        split = urlsplit(url)
        split_port = split.port
    except (LocationParseError, ValueError) as error:
        raise UnsafeTarget("The URL cannot be read.") from error
    if parsed.scheme not in allowed_schemes or split.scheme != parsed.scheme:
        raise UnsafeTarget("Use an https URL.")
    if "@" in split.netloc or parsed.auth:
        raise UnsafeTarget("The URL must not contain a user name or password.")
    host = (parsed.host or "").lower()
    if not host:
        raise UnsafeTarget("The URL has no host.")
    if host.startswith("["):
        host = _ipv6_literal(host)
    else:
        _check_host_name(host)
    port = parsed.port if parsed.port is not None else (443 if parsed.scheme == "https" else 80)
    if not 0 < port < 65536 or (split.hostname, split_port) != (host, parsed.port):
        raise UnsafeTarget("The URL's host or port cannot be read.")
    allowed_ports = settings.WEBHOOK_ALLOWED_PORTS
    if allowed_ports and not settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS and port not in allowed_ports:
        raise UnsafeTarget(f"Use one of the ports {', '.join(map(str, allowed_ports))}.")
    return Target(scheme=parsed.scheme, host=host, port=port)


def _ipv6_literal(host: str) -> str:
    literal = host[1:-1]
    try:
        ipaddress.IPv6Address(literal)
    except ValueError as error:  # a zone ("%eth0") included
        raise UnsafeTarget("The URL's IPv6 address cannot be read.") from error
    return literal


def _check_host_name(host: str) -> None:
    labels = host.split(".")
    if all(_NUMERIC_LABEL.fullmatch(label) for label in labels) or _NUMERIC_LABEL.fullmatch(labels[-1]):
        # An IPv4 address: only the dotted-decimal form, which every parser reads alike ("127.1",
        # "0x7f.1", "0177.0.0.1" and "2130706433" are each read as 127.0.0.1 by some and not others).
        try:
            ipaddress.IPv4Address(host)
        except ValueError as error:
            raise UnsafeTarget("Write an IPv4 address as four decimal numbers.") from error
        return
    if len(host) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        raise UnsafeTarget("The URL's host is not a valid host name.")


class SlowResolution(UnsafeTarget):
    pass


_lookup_lock = threading.Lock()
_lookups: dict[int, ThreadPoolExecutor] = {}
LOOKUP_THREADS = 8  # a slow nameserver holds these at most, never the request threads


def _lookup(host: str, port: int, *, timeout: float | None) -> list:
    """getaddrinfo, which has no deadline of its own: with `timeout`, on a small pool of this
    process's threads, given up (`SlowResolution`) once it has taken that long."""
    if timeout is None:
        return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    with _lookup_lock:  # one pool per process: threads do not survive a fork
        pool = _lookups.get(os.getpid()) or _lookups.setdefault(
            os.getpid(), ThreadPoolExecutor(LOOKUP_THREADS, thread_name_prefix="webhook-dns")
        )
    lookup = pool.submit(socket.getaddrinfo, host, port, type=socket.SOCK_STREAM)
    try:
        return lookup.result(timeout=timeout)
    except FutureTimeout as error:  # before OSError: it is one
        lookup.cancel()  # if it has not started, it never will
        raise SlowResolution(
            f"The host could not be resolved within {timeout:g} s (a slow nameserver?); try again later."
        ) from error


def resolve(host: str, port: int, *, timeout: float | None = None) -> list[tuple[socket.AddressFamily, tuple]]:
    """Resolve `host` once (within `timeout` seconds, if given); return every address it has
    (family, socket address), or raise `UnsafeTarget` if it does not resolve or any address is
    special-purpose."""
    try:
        infos = _lookup(host, port, timeout=timeout)
    except SlowResolution:
        raise
    except (OSError, UnicodeError, ValueError) as error:
        raise UnsafeTarget("The host does not resolve to a public address.") from error
    addresses = list(dict.fromkeys((family, sockaddr) for family, _, _, _, sockaddr in infos))
    if not settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS and not all(
        is_public_address(sockaddr[0]) for _, sockaddr in addresses
    ):
        raise UnsafeTarget("The host does not resolve to a public address.")
    return addresses


def check_url(url: str) -> None:
    """Raise `UnsafeTarget` unless `url` may receive webhooks."""
    target = parse(url)
    if not settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS:  # in the request's thread: within WEBHOOK_DNS_TIMEOUT
        resolve(target.host, target.port, timeout=settings.WEBHOOK_DNS_TIMEOUT)
