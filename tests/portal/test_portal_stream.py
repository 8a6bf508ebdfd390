"""The portal's live tail against the web server as the run command serves it (gunicorn with
uvicorn workers), read by a real Server-Sent Events client: the customer's events alone, live,
also from a link staff made; and the stream ends within 10 s of the key that made the link being
revoked, as the API's own stream does."""

import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import requests
from httpx_sse import connect_sse

from accounts.models import ApiKey
from harness import Processes
from harness.processes import free_port
from portal.authentication import COOKIE
from webhooks import services

pytestmark = pytest.mark.django_db(transaction=True)
URL = "http://127.0.0.1:9/hook"  # nothing is sent: no worker runs here
_reader = ThreadPoolExecutor(2)


@pytest.fixture(scope="module")
def web(worker_env, tmp_path_factory):
    settings = {"EVENT_STREAM_HEARTBEAT": "1", "API_RATE_LIMIT": "100000/min"}
    processes = Processes(env={**worker_env, **settings}, logs=tmp_path_factory.mktemp("portal-stream-web"))
    yield processes.start_web(port=free_port(), workers=1, threads=2)
    processes.stop_all()


def portal_cookie(web: str, who, **body) -> str:
    link = requests.post(
        f"{web}/v1/portal/links", json=body, headers={"Authorization": f"Bearer {who.key}"}, timeout=10
    )
    assert link.status_code == 201, link.text
    opened = requests.get(link.json()["url"], allow_redirects=False, timeout=10)
    assert opened.status_code == 302
    return opened.cookies[COOKIE]


def send_test(web: str, who, endpoint) -> None:
    response = requests.post(
        f"{web}/v1/webhooks/{endpoint.id}/test", headers={"Authorization": f"Bearer {who.key}"}, timeout=10
    )
    assert response.status_code == 202, response.text


def next_event(events, within: float = 10):
    """The next event, or None once the stream has ended. httpx-sse also yields an empty one for
    each comment line (heartbeats, `: access ended`) after an event with an id: those are skipped."""
    deadline = time.monotonic() + within
    while (sse := _reader.submit(next, events, None).result(timeout=deadline - time.monotonic())) is not None:
        if sse.data:
            return sse
    return None


def test_the_live_tail_shows_the_customers_events_alone_and_ends_when_the_key_is_revoked(web, make_customer, staff):
    customer, other = make_customer(), make_customer()
    mine = services.create_endpoint(owner=customer.user, url=URL, event_types=["*"])
    theirs = services.create_endpoint(owner=other.user, url=URL, event_types=["*"])
    staffs = services.create_endpoint(owner=staff.user, url=URL, event_types=["*"])
    for cookie_of in (
        lambda: portal_cookie(web, customer),
        lambda: portal_cookie(web, staff, customer=customer.user.username),
    ):
        headers = {"Cookie": f"{COOKIE}={cookie_of()}"}
        with (
            httpx.Client(base_url=web, timeout=10, headers=headers) as client,
            connect_sse(client, "GET", "/portal/events/stream") as source,
        ):
            assert source.response.headers["content-type"].startswith("text/event-stream")
            assert "frame-ancestors 'none'" in source.response.headers["content-security-policy"]
            events = source.iter_sse()
            send_test(web, other, theirs)
            send_test(web, staff, staffs)
            send_test(web, customer, mine)
            seen = next_event(events)
            assert (seen.event, str(mine.id) in seen.data) == ("webhook.test", True)  # neither of the others'

    cookie = portal_cookie(web, customer)
    with httpx.Client(base_url=web, timeout=10, headers={"Cookie": f"{COOKIE}={cookie}"}) as client:
        with connect_sse(client, "GET", "/portal/events/stream") as source:
            events = source.iter_sse()
            send_test(web, customer, mine)
            assert next_event(events).event == "webhook.test"
            key_id = ApiKey.objects.get(user=customer.user).id
            revoked = requests.delete(
                f"{web}/v1/auth/tokens/{key_id}", headers={"Authorization": f"Bearer {customer.key}"}, timeout=10
            )
            assert revoked.status_code == 204
            started = time.monotonic()
            assert next_event(events, within=12) is None  # the stream ended
            assert time.monotonic() - started < 10
        assert client.get("/portal/").status_code == 403
