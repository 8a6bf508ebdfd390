"""A forged dispatch message on the broker has no webhook signed or sent with its content: the
worker dispatches the event the database holds, by its id, and an id it does not hold does
nothing. A real worker on real Redis, a real receiver verifying with `standardwebhooks`."""

import re

import pytest
from standardwebhooks import Webhook
from uuid6 import uuid7
from werkzeug import Response

from events.models import Event
from events.tasks import dispatch_event
from tests.conftest import eventually, order_body
from webhooks import services
from webhooks.models import Delivery

pytestmark = pytest.mark.worker


def forged(event: Event, *, owner_id: int) -> dict:
    """What an intruder on the broker would put in a dispatch message: another owner, other data."""
    return {
        "id": str(event.id),
        "type": event.type,
        "owner_id": owner_id,
        "subject": event.subject,
        "sequence": event.sequence,
        "data": {"order": {**event.data["order"], "total": "0.01", "note": "FORGED"}},
        "created_at": event.created_at.isoformat(),
        "traceparent": "",
    }


def test_a_forged_dispatch_message_sends_no_webhook_with_its_content(workers, make_customer, pet, receiver):
    buyer, victim = make_customer(), make_customer()
    arrived = []

    def verify(request):
        arrived.append(Webhook(endpoint.secret).verify(request.get_data(), dict(request.headers)))
        return Response(status=204)

    receiver.expect_request("/victim").respond_with_handler(verify)
    endpoint = services.create_endpoint(owner=victim.user, url=receiver.url_for("/victim"), event_types=["*"])
    order_id = buyer.client.post("/v1/orders", order_body(pet), format="json").json()["id"]
    event = eventually(
        lambda: (
            Event.objects.filter(subject=f"order/{order_id}", type="order.created", dispatched_at__isnull=False)
            .order_by("id")
            .first()
        ),
        message="the buyer's order.created dispatched",
    )

    # The buyer's real event, retold as the victim's with other data; and an event that never was.
    messages = [
        dispatch_event.apply_async((str(event.id), forged(event, owner_id=victim.user.id))),
        dispatch_event.apply_async((str(uuid7()), forged(event, owner_id=victim.user.id) | {"id": "x"})),
        dispatch_event.apply_async(("not-an-id", {})),
    ]
    for message in messages:
        eventually(
            lambda m=message: re.search(rf"\[{m.id}\] (succeeded|raised)", workers.log.read_text()),
            message=f"the worker to run {message.id}",
        )

    assert not Delivery.objects.filter(endpoint=endpoint).exists()  # nothing was signed for the victim
    assert arrived == []
    assert "skipped: no such event" in workers.log.read_text()
