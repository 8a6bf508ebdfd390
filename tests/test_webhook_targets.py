"""SSRF: private targets are refused when an endpoint is saved and again when a delivery connects."""

import socket

import pytest

from webhooks import transport
from webhooks.targets import UnsafeTarget, check_url

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
]


@pytest.fixture
def public_only(settings):
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = False


@pytest.mark.parametrize("url", FORBIDDEN_URLS)
def test_forbidden_targets_are_refused_by_the_api(public_only, customer, url):
    response = customer.client.post("/v1/webhooks", {"url": url, "events": ["*"]}, format="json")
    assert response.status_code == 400, url
    assert "url" in response.json()["errors"]


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


def test_a_name_that_turns_private_after_saving_is_refused_when_sending(public_only, monkeypatch, httpserver):
    httpserver.expect_request("/hook").respond_with_data("ok")
    url = f"https://rebind.example:{httpserver.port}/hook"
    fake_dns(monkeypatch, "93.184.215.14")
    check_url(url)  # public when saved

    fake_dns(monkeypatch, "127.0.0.1")  # then the name points inside
    with pytest.raises(UnsafeTarget):
        check_url(url)
    response = transport.post(url=url, body=b"{}", headers={})

    assert response.status is None
    assert "non-public address 127.0.0.1" in response.error
    assert httpserver.log == []
