"""Deliveries sent in the test's own thread, through the product's claim, transport and recording:
the worker's path without its sender threads, so a test can assert right after."""

from collections.abc import Sequence

from django.utils import timezone

from webhooks.models import Attempt
from webhooks.pipeline import recording, sending, transport
from webhooks.pipeline.inflight import Result


def send_here(delivery_ids: Sequence) -> list[Attempt]:
    results = []
    for request in sending.signed_requests(sending.claim(delivery_ids)):
        attempted_at = timezone.now()
        response = transport.post(url=request.url, body=request.body, headers=request.headers)
        results.append(Result(request, response, attempted_at))
    return recording.record_attempts(results)
