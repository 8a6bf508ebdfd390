"""SSRF: private targets are refused when an endpoint is saved and again when a delivery connects."""

import socket
import time

import pytest
from django.test import Client

from webhooks.models import Endpoint
from webhooks.pipeline import transport
from webhooks.pipeline.targets import UnsafeTarget, check_url, is_public_address

FORBIDDEN_URLS = [
    "http://93.184.215.14/hook",  # not https
    "ftp://93.184.215.14/hook",
    "https://127.0.0.1/hook",
    "https://localhost/hook",
    "https://127.1/hook",  # short form
    "https://2130706433/hook",  # decimal integer
    "https://0x7f000001/hook",  # hex integer
    "https://0177.0.0.1/hook",  # octal
    "https://0.0.0.0/hook",
    "https://10.0.0.1/hook",
    "https://172.16.5.4/hook",
    "https://192.168.1.1/hook",
    "https://169.254.169.254/latest/meta-data/",  # cloud metadata
    "https://100.100.100.200/hook",  # shared address space, Alibaba's metadata
    "https://224.0.0.1/hook",  # multicast
    "https://240.0.0.1/hook",  # reserved
    "https://[::1]/hook",
    "https://[::ffff:127.0.0.1]/hook",  # IPv4-mapped IPv6
    "https://[::ffff:7f00:1]/hook",  # the same, in hex
    "https://[fe80::1]/hook",  # link-local
    "https://[fd00:ec2::254]/hook",  # unique local, AWS's IPv6 metadata
    "https://[64:ff9b::a9fe:a9fe]/hook",  # NAT64 of 169.254.169.254
    "https://[2002:7f00:1::]/hook",  # 6to4 of 127.0.0.1
    "https://[ff02::1]/hook",  # multicast
    "https://user:pw@127.0.0.1:8443/hook",
    "https:///hook",  # no host
    # Spellings two parsers read differently: what is checked must be what is connected to.
    "https://127.0.0.1:8443\\@93.184.215.14/hook",  # urlsplit: 93.184.215.14; urllib3: 127.0.0.1
    "https://93.184.215.14\\@127.0.0.1/hook",
    "https://93.184.215.14@127.0.0.1/hook",  # userinfo
    "https://user@93.184.215.14/hook",
    "https://93.184.215.14#@127.0.0.1/hook",  # a fragment
    "https://93.184.215.14%2f@127.0.0.1/hook",
    "https://127.0.0.1%2f.example.com/hook",  # % in the host
    "https://127.0.0.1%00.example.com/hook",
    "https://[::1%25eth0]/hook",  # an IPv6 zone
    "https://93.184.215.14 @127.0.0.1/hook",  # whitespace
    "https://93.184.215.14\t/hook",
    "https://93.184.215.14\n.example.com/hook",
    "https://ex\u0430mple.com/hook",  # non-ASCII (a Cyrillic a)
    "https://①②⑦.0.0.1/hook",  # compatibility digits some parsers fold to 127.0.0.1
    "https://0x7f.1/hook",
    "https://127.0.0.1.nip.io.0x1/hook",  # a numeric last label
    "https://93.184.215.14:0/hook",
    "https://93.184.215.14:99999/hook",
    # Special-purpose blocks an old interpreter's is_global lets through, or that it never knew.
    "https://192.0.0.8/hook",  # IPv4 dummy address
    "https://192.0.0.9/hook",  # PCP anycast
    "https://192.0.0.170/hook",  # NAT64/DNS64 discovery
    "https://192.0.2.1/hook",  # documentation
    "https://198.51.100.7/hook",
    "https://203.0.113.9/hook",
    "https://198.18.0.1/hook",  # benchmarking
    "https://198.19.255.254/hook",
    "https://100.64.0.1/hook",  # shared address space
    "https://192.88.99.1/hook",  # 6to4 relay anycast
    "https://192.31.196.1/hook",  # AS112
    "https://192.175.48.1/hook",
    "https://255.255.255.255/hook",
    "https://[::]/hook",
    "https://[::127.0.0.1]/hook",  # IPv4-compatible
    "https://[::ffff:a9fe:a9fe]/hook",  # IPv4-mapped metadata
    "https://[64:ff9b::7f00:1]/hook",  # NAT64 of loopback
    "https://[64:ff9b:1::1]/hook",  # local-use NAT64
    "https://[100::1]/hook",  # discard-only
    "https://[2001::1]/hook",  # TEREDO
    "https://[2001:2::1]/hook",  # benchmarking
    "https://[2001:db8::1]/hook",  # documentation
    "https://[3fff::1]/hook",
    "https://[2002:c0a8:101::1]/hook",  # 6to4 of 192.168.1.1
    "https://[2002:5db8:d70e::1]/hook",  # 6to4, even of a public address
    "https://[5f00::1]/hook",  # SRv6
    "https://[fc00::1]/hook",
    "https://[4000::1]/hook",  # outside global unicast
]


@pytest.fixture
def public_only(settings):
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = False


@pytest.mark.parametrize("url", FORBIDDEN_URLS)
def test_forbidden_targets_are_refused_by_the_api(public_only, customer, url):
    response = customer.client.post("/v1/webhooks", {"url": url, "events": ["*"]}, format="json")
    assert response.status_code == 400, url
    assert "url" in response.json()["errors"]


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.215.14", True),
        ("1.1.1.1", True),
        ("2606:4700:4700::1111", True),
        ("::ffff:1.1.1.1", True),  # IPv4-mapped: its IPv4 address decides
        ("64:ff9b::101:101", True),  # NAT64 of 1.1.1.1
        ("100.63.255.255", True),
        ("100.128.0.0", True),
        ("198.17.255.255", True),
        ("198.20.0.0", True),
        ("192.0.0.8", False),
        ("198.18.0.0", False),
        ("100.64.0.0", False),
        ("0.1.2.3", False),
        ("::ffff:10.0.0.1", False),
        ("64:ff9b::a00:1", False),
        ("fe80::1%1", False),
        ("not an address", False),
    ],
)
def test_special_purpose_addresses_come_from_the_iana_registries(address, public):
    assert is_public_address(address) is public


def test_a_public_https_address_is_accepted(public_only, customer):
    response = customer.client.post(
        "/v1/webhooks", {"url": "https://93.184.215.14/hook", "events": ["*"]}, format="json"
    )
    assert response.status_code == 201


def fake_dns(monkeypatch, address: str) -> None:
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if host == "rebind.example":
            return real(address, port, *args, **kwargs)
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def test_a_name_that_turns_private_after_saving_is_refused_when_sending(public_only, settings, monkeypatch, httpserver):
    settings.WEBHOOK_ALLOWED_PORTS = []  # any: the receiver listens where it can
    httpserver.expect_request("/hook").respond_with_data("ok")
    url = f"https://rebind.example:{httpserver.port}/hook"
    fake_dns(monkeypatch, "93.184.215.14")
    check_url(url)  # public when saved

    fake_dns(monkeypatch, "127.0.0.1")  # then the name points inside
    with pytest.raises(UnsafeTarget):
        check_url(url)
    response = transport.post(url=url, body=b"{}", headers={})

    assert response.status is None
    assert response.error == "could not connect"
    assert httpserver.log == []


def test_the_admin_refuses_a_private_url_as_the_api_does(public_only, customer, staff):
    endpoint = Endpoint.objects.create(
        owner=customer.user, url="https://93.184.215.14/hook", event_types=["*"], secret="whsec_x"
    )
    staff.user.is_superuser = True
    staff.user.save()
    browser = Client()
    browser.force_login(staff.user)
    form = {
        "owner": customer.user.id,
        "description": "",
        "event_types": '["*"]',
        "ordering": "none",
        "is_active": "on",
    }

    refused = browser.post(
        f"/admin/webhooks/endpoint/{endpoint.id}/change/", {**form, "url": "https://169.254.169.254/latest/"}
    )
    spelled = browser.post(
        f"/admin/webhooks/endpoint/{endpoint.id}/change/", {**form, "url": "https://93.184.215.14\\@127.0.0.1/"}
    )
    accepted = browser.post(f"/admin/webhooks/endpoint/{endpoint.id}/change/", {**form, "url": "https://1.1.1.1/hook"})

    assert refused.status_code == spelled.status_code == 200  # the form again, with its error
    assert "does not resolve to a public address" in refused.content.decode()
    assert accepted.status_code == 302
    endpoint.refresh_from_db()
    assert endpoint.url == "https://1.1.1.1/hook"


@pytest.mark.redis
def test_a_host_that_does_not_resolve_in_time_is_a_400_within_the_dns_deadline(
    public_only, settings, monkeypatch, customer
):
    settings.WEBHOOK_DNS_TIMEOUT = 0.3

    def hanging_nameserver(*args, **kwargs):
        time.sleep(3)
        raise socket.gaierror("too late")

    monkeypatch.setattr(socket, "getaddrinfo", hanging_nameserver)
    started = time.monotonic()
    response = customer.client.post(
        "/v1/webhooks", {"url": "https://slow.example.com/hook", "events": ["*"]}, format="json"
    )

    assert time.monotonic() - started < 1.5
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert "could not be resolved within 0.3 s" in response.json()["errors"]["url"][0]
    assert not Endpoint.objects.exists()


@pytest.mark.parametrize(("port", "status"), [("", 201), (":443", 201), (":8443", 201), (":22", 400), (":6379", 400)])
def test_a_public_host_takes_only_the_allowed_ports(public_only, customer, port, status):
    response = customer.client.post(
        "/v1/webhooks", {"url": f"https://93.184.215.14{port}/hook", "events": ["*"]}, format="json"
    )
    assert response.status_code == status
    if status == 400:
        assert "Use one of the ports 443, 8443." in response.json()["errors"]["url"]


def test_loopback_receivers_on_any_port_work_while_private_targets_are_allowed(customer):
    response = customer.client.post(
        "/v1/webhooks", {"url": "http://127.0.0.1:59999/hook", "events": ["*"]}, format="json"
    )
    assert response.status_code == 201
