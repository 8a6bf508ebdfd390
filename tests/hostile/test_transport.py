"""The transport against hostile receivers on loopback: every attempt ends within the timeout, keeps
at most a KiB, follows nothing, and describes what went wrong in a few fixed words."""

import socket
import threading
import time

import pytest

from tests.conftest import eventually
from tests.hostile import receivers
from tests.hostile.receivers import elapsed
from webhooks.pipeline import transport


def post(receiver, **kwargs) -> transport.Response:
    return transport.post(url=kwargs.pop("url", receiver.url()), body=b'{"id": "evt"}', headers={}, **kwargs)


def assert_says_nothing_of_the_url(response: transport.Response) -> None:
    assert "token" not in response.error
    assert "127.0.0.1" not in response.error
    assert "hook" not in response.error


@pytest.mark.parametrize(
    "behaviour",
    [receivers.trickle_body, receivers.trickle_everything, receivers.hang_after_headers],
    ids=["trickling body", "trickling status line and headers", "late headers, then a hang"],
)
def test_an_attempt_ends_at_the_timeout_however_the_receiver_trickles(hostile, timeout, behaviour):
    receiver = hostile(behaviour)
    started = time.monotonic()

    response = post(receiver)

    assert elapsed(started) < timeout + 0.5
    assert response.error == "timed out"
    assert not response.succeeded
    assert_says_nothing_of_the_url(response)


def test_an_attempt_due_first_is_ended_on_time_while_a_later_one_is_pending(hostile, settings):
    """The deadline watchdog is woken only by an attempt due before every other: one with a shorter
    timeout, begun while a longer one waits, still ends at its own deadline."""
    settings.WEBHOOK_TIMEOUT = 3
    pending_response = []
    pending = threading.Thread(target=lambda: pending_response.append(post(hostile(receivers.trickle_body))))
    pending.start()
    time.sleep(0.5)  # its deadline, 3 s from its start, is the watchdog's next
    settings.WEBHOOK_TIMEOUT = 1
    started = time.monotonic()

    response = post(hostile(receivers.trickle_body))

    assert elapsed(started) < 1.5  # at its own deadline, not at the pending one's, 2.5 s from now
    assert response.error == "timed out"
    pending.join(timeout=5)
    assert [answer.error for answer in pending_response] == ["timed out"]


def test_a_timed_out_connection_is_not_used_again(hostile, timeout):
    receiver = hostile(receivers.trickle_body)
    post(receiver)
    receiver.behaviour = receivers.body(b"fine")

    response = post(receiver)

    assert (response.status, response.body, response.error) == (200, "fine", "")
    assert receiver.connections == 2


def test_a_gibibyte_body_is_cut_at_one_kibibyte_and_its_connection_dropped(hostile, timeout):
    receiver = hostile(receivers.gibibyte)
    started = time.monotonic()

    response = post(receiver)

    assert elapsed(started) < 1
    assert (response.status, response.succeeded, response.body) == (200, True, "A" * 1024)
    eventually(lambda: receiver.finished == 1, timeout=5, message="the receiver to see the connection dropped")
    assert receiver.bytes_sent < 32 * 1024 * 1024  # what the socket buffers took before the drop


@pytest.mark.parametrize(
    ("content", "kept"),
    [
        (b"ok\x00\x00then more", "ok\x00\x00then more"),  # the transport keeps it; recording cleans it
        (b"\xff\xfe\xc3( bad", "\ufffd\ufffd\ufffd( bad"),
    ],
    ids=["NUL bytes", "invalid UTF-8"],
)
def test_odd_bodies_come_back_as_text(hostile, timeout, content, kept):
    response = post(hostile(receivers.body(content)))

    assert (response.status, response.body) == (200, kept)


def test_a_redirect_is_never_followed(hostile, timeout):
    inside = hostile(receivers.body(b"metadata"))
    receiver = hostile(receivers.redirect(inside.url("/latest/meta-data/")))

    response = post(receiver)

    assert (response.status, response.succeeded) == (302, False)
    assert inside.connections == 0


@pytest.mark.parametrize(
    ("behaviour", "error"),
    [
        (receivers.raw(b"HTTP/1.1 2\x00\x00 OK\r\nContent-Length: 0\r\n\r\n"), "invalid HTTP response"),
        (receivers.raw(b"\x00\xffGARBAGE at 127.0.0.1/hook\r\n\r\n"), "invalid HTTP response"),
        (receivers.raw(b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n"), "invalid HTTP response"),
        (
            receivers.raw(b"HTTP/1.1 200 OK\r\n" + b"".join(b"X-%d: y\r\n" % n for n in range(300)) + b"\r\n"),
            "invalid HTTP response",
        ),
        (receivers.close_mid_body, "connection closed mid-response"),
        (receivers.close_at_once, "connection closed before a complete response"),
    ],
    ids=["NUL in the status line", "no status line", "a 70 kB header", "300 headers", "close mid-body", "no answer"],
)
def test_a_broken_response_is_named_in_fixed_words(hostile, timeout, behaviour, error):
    response = post(hostile(behaviour))

    assert response.error == error
    assert not response.succeeded
    assert_says_nothing_of_the_url(response)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("120", 120),
        ("99999999999999", 99999999999999),
        ("9" * 5000, float("inf")),  # the retry policy bounds it
        ("-5", None),
        ("soon", None),
        ("\x01\x00", None),
        ("Fri, 31 Dec 9999 23:59:59 GMT", pytest.approx(253402300799 - time.time(), rel=1e-6)),
        ("Mon, 01 Jan 99999 00:00:00 GMT", None),
        ("Mon, 01 Jan 2001 00:00:00 GMT", 0),
    ],
)
def test_retry_after_is_read_in_either_form_or_not_at_all(value, seconds):
    assert transport.parse_retry_after(value) == seconds


def test_retry_after_comes_back_with_the_response(hostile, timeout):
    response = post(hostile(receivers.retry_after("30")))

    assert (response.status, response.retry_after) == (503, 30)


def test_a_refused_private_address_and_a_closed_port_read_the_same(hostile, timeout, settings):
    with socket.create_server(("127.0.0.1", 0)) as server:
        closed_port = server.getsockname()[1]
    closed = transport.post(url=f"http://127.0.0.1:{closed_port}/hook?token=x", body=b"{}", headers={})

    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = False
    settings.WEBHOOK_ALLOWED_PORTS = []  # any: the receiver listens where it can
    listening = hostile(receivers.body(b"internal service"))
    refused = transport.post(url=f"https://127.0.0.1:{listening.port}/hook?token=x", body=b"{}", headers={})

    assert closed.error == refused.error == "could not connect"
    assert (closed.status, refused.status) == (None, None)
    assert listening.connections == 0  # refused before connecting: the port's state never shows


def fake_dns(monkeypatch, name: str, addresses: list[str]) -> list[str]:
    """`name` resolves to `addresses`; returns the log of its lookups."""
    real, lookups = socket.getaddrinfo, []

    def getaddrinfo(host, port, *args, **kwargs):
        if host != name:
            return real(host, port, *args, **kwargs)
        lookups.append(host)
        return [info for address in addresses for info in real(address, port, *args, **kwargs)]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return lookups


def test_a_name_with_any_private_address_is_refused_before_connecting(hostile, timeout, settings, monkeypatch):
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = False
    settings.WEBHOOK_ALLOWED_PORTS = []  # any: the receiver listens where it can
    receiver = hostile(receivers.body(b"internal service"))
    fake_dns(monkeypatch, "rebind.example", ["127.0.0.1", "93.184.215.14"])

    response = transport.post(url=f"https://rebind.example:{receiver.port}/hook", body=b"{}", headers={})

    assert response.error == "could not connect"
    assert receiver.connections == 0


def test_the_host_is_resolved_once_and_named_in_the_request(hostile, timeout, monkeypatch):
    receiver = hostile(receivers.body(b"fine"))
    lookups = fake_dns(monkeypatch, "hooks.example", ["127.0.0.1"])

    response = transport.post(url=f"http://hooks.example:{receiver.port}/hook", body=b"{}", headers={})

    assert (response.status, lookups) == (200, ["hooks.example"])
    assert f"Host: hooks.example:{receiver.port}".encode() in receiver.requests[0]
