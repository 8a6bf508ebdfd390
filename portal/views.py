"""The portal's pages. Each one checks, saves and sends through the API's own serializers and
services (`webhooks.serializers`, `webhooks.services`), so a change made here is exactly the
change the API would make, with the same limits and the same messages."""

import json
from collections.abc import Callable

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection
from django.http import HttpResponseRedirect, JsonResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET
from rest_framework import renderers

from accounts.throttling import ApiKeyRateThrottle
from core.errors import DomainError
from core.problems import flatten_errors
from events.catalog.registry import known_patterns
from events.catalog.schemas import event_types
from events.models import Event
from events.outbox import positions
from events.stream import live, slots
from portal import charts, forms, services
from portal.authentication import COOKIE, COOKIE_PATH
from portal.examples import example_of
from portal.pages import PortalView, is_htmx, refused_page
from portal.previews import is_link_preview
from portal.serializers import RecoverProgressSerializer
from webhooks import selectors as webhook_selectors
from webhooks import services as webhook_services
from webhooks.models import DeliveryStatus, Endpoint
from webhooks.serializers import (
    DeliveryFilterSerializer,
    EndpointSerializer,
    EndpointWithSecretSerializer,
    RecoverSerializer,
)
from webhooks.views import WebhookTestRateThrottle

DELIVERIES_SHOWN = 25


@require_GET
def enter(request, token: str):
    """Open a portal link: once, and only before it expires. A preview or a prefetch of the link
    (`portal.previews`) gets a page that says what it is, and leaves the link unopened."""
    if is_link_preview(request):
        preview = TemplateResponse(request, "portal/link_preview.html")
        preview["Cache-Control"] = "no-store"
        preview["X-Robots-Tag"] = "noindex, nofollow"
        return preview
    try:
        cookie = services.open_link(token)
    except services.LinkRefused as refused:
        return refused_page(request, refused.detail)
    response = HttpResponseRedirect(reverse("portal:endpoints"))
    response.set_cookie(
        COOKIE,
        cookie,
        max_age=int(services.SESSION_LIFETIME.total_seconds()),
        path=COOKIE_PATH,
        httponly=True,
        samesite="Lax",
        secure=not settings.DEBUG,
    )
    return response


class SignOutView(PortalView):
    def post(self, request):
        services.end_session(request.auth)
        response = refused_page(request._request, "You signed out of the portal.", status=200)
        response.delete_cookie(COOKIE, path=COOKIE_PATH, samesite="Lax")
        return response


# --- Endpoints ---------------------------------------------------------------------------


class EndpointPageMixin:
    def endpoint(self, pk) -> Endpoint:
        """The customer's endpoint: another customer's id is a 404, as in the API."""
        return get_object_or_404(webhook_selectors.endpoints_of(self.customer), pk=pk)

    def form_context(self, *, values: dict, errors: dict | None = None) -> dict:
        return {
            "values": values,
            "errors": errors or {},
            "field_errors": by_field(errors or {}),
            "patterns": known_patterns(),
            "orderings": Endpoint.Ordering.choices,
        }

    def save(self, request, save: Callable[[dict], Endpoint], *, endpoint: Endpoint | None = None):
        """Check the form with the API's serializer, then save with the API's service: (the
        endpoint, {}), or (None, messages by field path) with the values to show again in
        `self.values`. A domain error that names fields (`errors`, as a filter's does) goes back
        onto the form; any other to the problem page."""
        body, self.values, errors = self.submitted(request)
        if errors:
            return None, errors
        serializer = EndpointSerializer(endpoint, data=body, partial=endpoint is not None, context={"request": request})
        if not serializer.is_valid():
            return None, flatten_errors(serializer.errors)
        try:
            return save(serializer.validated_data), {}
        except DomainError as error:
            if not getattr(error, "errors", None):
                raise
            return None, error.errors

    def submitted(self, request) -> tuple[dict, dict, dict]:
        """(the JSON body, the values to show again, errors of the form itself)."""
        values = {
            "url": request.data.get("url", ""),
            "description": request.data.get("description", ""),
            "events": request.data.getlist("events"),
            "ordering": request.data.get("ordering", Endpoint.Ordering.NONE),
            "rate_limit": request.data.get("rate_limit", ""),
            "filter": request.data.get("filter", ""),
        }
        try:
            return forms.endpoint_body(request.data), values, {}
        except forms.FormError as error:
            return {}, values, {error.field: [error.message]}


def by_field(errors: dict[str, list[str]]) -> dict[str, list[str]]:
    """Messages by the form field they concern: `filter.data.order.totl` is the filter's."""
    grouped: dict[str, list[str]] = {}
    for path, messages in errors.items():
        grouped.setdefault(path.split(".", 1)[0], []).extend(messages)
    return grouped


class EndpointListView(PortalView):
    def get(self, request):
        endpoints = webhook_selectors.endpoints_of(self.customer).order_by("-created_at")
        return self.page(
            "portal/endpoints.html", {"endpoints": endpoints, "limit": settings.MAX_WEBHOOK_ENDPOINTS_PER_USER}
        )


class EndpointCreateView(EndpointPageMixin, PortalView):
    def get(self, request):
        values = {"url": "", "description": "", "events": ["*"], "ordering": "none", "rate_limit": "", "filter": ""}
        return self.page("portal/endpoint_form.html", self.form_context(values=values))

    def post(self, request):
        endpoint, errors = self.save(
            request, lambda data: webhook_services.create_endpoint(owner=self.customer, **data)
        )
        if errors:
            return self.page(
                "portal/endpoint_form.html", self.form_context(values=self.values, errors=errors), status=400
            )
        secret = EndpointWithSecretSerializer(endpoint).data["secret"]
        return self.page("portal/secret.html", {"endpoint": endpoint, "secret": secret, "created": True}, status=201)


class EndpointEditView(EndpointPageMixin, PortalView):
    def get(self, request, pk):
        endpoint = self.endpoint(pk)
        shown = EndpointSerializer(endpoint, context={"request": request}).data
        values = {
            **shown,
            "rate_limit": "" if shown["rate_limit"] is None else shown["rate_limit"],
            "filter": forms.filter_text(shown.get("filter")),
        }
        return self.page("portal/endpoint_form.html", {"endpoint": endpoint, **self.form_context(values=values)})

    def post(self, request, pk):
        endpoint = self.endpoint(pk)
        _, errors = self.save(
            request, lambda data: webhook_services.update_endpoint(endpoint=endpoint, **data), endpoint=endpoint
        )
        if errors:
            context = {"endpoint": endpoint, **self.form_context(values=self.values, errors=errors)}
            return self.page("portal/endpoint_form.html", context, status=400)
        return HttpResponseRedirect(reverse("portal:endpoint", args=[endpoint.id]))


class EndpointDetailView(EndpointPageMixin, PortalView):
    def get(self, request, pk):
        endpoint = self.endpoint(pk)
        return self.page(
            "portal/endpoint.html",
            {
                "endpoint": endpoint,
                "shown": EndpointSerializer(endpoint, context={"request": request}).data,
                "filter_text": forms.filter_text(getattr(endpoint, "filter", None)),
                **deliveries_context(endpoint),
                "statuses": DeliveryStatus.choices,
            },
        )


class EndpointActiveView(EndpointPageMixin, PortalView):
    """Enable or disable, as `PATCH /v1/webhooks/{id}` with `is_active`."""

    active = True

    def post(self, request, pk):
        endpoint = self.endpoint(pk)
        webhook_services.update_endpoint(endpoint=endpoint, is_active=self.active)
        return HttpResponseRedirect(reverse("portal:endpoint", args=[endpoint.id]))


class EndpointDeleteView(EndpointPageMixin, PortalView):
    def get(self, request, pk):
        return self.page("portal/endpoint_delete.html", {"endpoint": self.endpoint(pk)})

    def post(self, request, pk):
        self.endpoint(pk).delete()  # as the API's DELETE: the endpoint and its delivery log
        return HttpResponseRedirect(reverse("portal:endpoints"))


class RotateSecretView(EndpointPageMixin, PortalView):
    def post(self, request, pk):
        endpoint = webhook_services.rotate_secret(endpoint=self.endpoint(pk))
        secret = EndpointWithSecretSerializer(endpoint).data["secret"]
        return self.page("portal/secret.html", {"endpoint": endpoint, "secret": secret, "created": False})


# --- Deliveries --------------------------------------------------------------------------


def deliveries_context(endpoint: Endpoint, status: str | None = None) -> dict:
    """The endpoint's latest deliveries (of one status, as the API's `?status=`), with their attempts."""
    deliveries = webhook_selectors.deliveries_of(endpoint, status=status).order_by("-created_at", "-id")
    return {"endpoint": endpoint, "deliveries": list(deliveries[:DELIVERIES_SHOWN])}


class DeliveriesMixin(EndpointPageMixin):
    def deliveries_page(self, endpoint: Endpoint, *, status: int = 200):
        """The deliveries part of the endpoint's page (htmx), or the whole page without htmx."""
        if not is_htmx(self.request):
            return HttpResponseRedirect(reverse("portal:endpoint", args=[endpoint.id]))
        filters = DeliveryFilterSerializer(data=self.request.query_params)  # the API's `?status=`
        wanted = filters.validated_data.get("status") if filters.is_valid() else None
        return self.page("portal/_deliveries.html", deliveries_context(endpoint, wanted), status=status)


class DeliveriesView(DeliveriesMixin, PortalView):
    def get(self, request, pk):
        return self.deliveries_page(self.endpoint(pk))


class SendTestView(DeliveriesMixin, PortalView):
    throttle_classes = [ApiKeyRateThrottle, WebhookTestRateThrottle]  # as POST /v1/webhooks/{id}/test

    def post(self, request, pk):
        endpoint = self.endpoint(pk)
        webhook_services.send_test_event(endpoint=endpoint)
        return self.deliveries_page(endpoint, status=202)


class ResendView(DeliveriesMixin, PortalView):
    def post(self, request, pk, delivery_id):
        endpoint = self.endpoint(pk)
        deliveries = webhook_selectors.deliveries_of(endpoint)
        delivery = get_object_or_404(deliveries, id=delivery_id)
        webhook_services.resend_deliveries(deliveries.filter(id=delivery.id))
        return self.deliveries_page(endpoint, status=202)


class RecoverView(EndpointPageMixin, PortalView):
    """Resend every failed delivery since a time, then show how far the resending has got."""

    def post(self, request, pk):
        endpoint = self.endpoint(pk)
        serializer = RecoverSerializer(data={"since": forms.rfc3339(request.data.get("since", ""))})
        serializer.is_valid(raise_exception=True)
        started = timezone.now()
        count = webhook_services.resend_failed_since(endpoint=endpoint, **serializer.validated_data)
        context = recover_progress(endpoint, since=serializer.validated_data["since"], started=started, count=count)
        return self.page("portal/_recover_progress.html", context, status=202)

    def get(self, request, pk):
        endpoint = self.endpoint(pk)
        progress = RecoverProgressSerializer(data=request.query_params)
        progress.is_valid(raise_exception=True)
        return self.page("portal/_recover_progress.html", recover_progress(endpoint, **progress.validated_data))


def recover_progress(endpoint: Endpoint, *, since, started, count: int) -> dict:
    """How many of the `count` deliveries a recovery started at `started` resent have settled
    (sent, or failed again after their new attempts): those created before it began that have
    changed since and are no longer pending."""
    resent = endpoint.deliveries.filter(created_at__gte=since, created_at__lt=started, updated_at__gte=started)
    settled = min(resent.exclude(status=DeliveryStatus.PENDING).count(), count)
    return {
        "endpoint": endpoint,
        "count": count,
        "settled": settled,
        "percent": 100 if count == 0 else round(100 * settled / count),
        "done": settled >= count,
        "since": since.isoformat(),
        "started": started.isoformat(),
    }


class HealthView(EndpointPageMixin, PortalView):
    renderer_classes = [renderers.JSONRenderer]

    def get(self, request, pk):
        return JsonResponse(charts.endpoint_health(self.endpoint(pk)))


# --- Events ------------------------------------------------------------------------------


# The catalog's examples are looked for among the customer's latest events only: one query,
# like a page of `GET /v1/events`, however many events they have.
EXAMPLES_AMONG = 200


class CatalogView(PortalView):
    def get(self, request):
        latest_of_type = {}
        for event in Event.objects.filter(owner=self.customer).order_by("-created_at")[:EXAMPLES_AMONG]:
            latest_of_type.setdefault(event.type, event)
        entries = []
        for entry in event_types():
            latest = latest_of_type.get(entry["type"])
            example = latest.envelope() if latest else {"type": entry["type"], "data": example_of(entry["schema"])}
            entries.append(
                {
                    **entry,
                    "schema_json": json.dumps(entry["schema"], indent=2),
                    "example_json": json.dumps(example, indent=2, cls=DjangoJSONEncoder),
                    "example_is_yours": latest is not None,
                }
            )
        return self.page("portal/catalog.html", {"entries": entries})


class LiveView(PortalView):
    def get(self, request):
        types = [entry["type"] for entry in event_types()]
        return self.page("portal/live.html", {"stream_url": reverse("portal:stream"), "types": types})


class EventStreamRenderer(renderers.BaseRenderer):
    """`text/event-stream` for the stream; a refusal is the problem page's text."""

    media_type = "text/event-stream"
    format = "event-stream"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return json.dumps(data).encode()


class EventStreamView(PortalView):
    """The customer's events live: the API's event stream (`events.stream.live`), its per-user limit
    and its looks, authorised by the portal session, which it asks again at every look."""

    renderer_classes = [EventStreamRenderer, renderers.TemplateHTMLRenderer]

    def get(self, request):
        cookie = request._request.COOKIES[COOKIE]
        customer = self.customer
        events = Event.objects.filter(owner=customer)  # the customer's alone, even when they are staff
        slot = slots.take(user_id=customer.id)
        if not connection.in_atomic_block:
            connection.close()  # the stream looks with a connection of its own, only while it looks
        response = StreamingHttpResponse(
            live.stream(
                user=customer,
                events=events,
                start=positions.tail(),
                slot=slot,
                still_allowed=lambda: services.session_link(cookie) is not None,
            ),
            content_type="text/event-stream",
        )
        response["X-Accel-Buffering"] = "no"
        return response
