from django import forms
from django.contrib import admin, messages
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest

from core.admin import ReadOnlyTabularInline
from webhooks import services, signing
from webhooks.models import Attempt, Delivery, DeliveryStatus, Endpoint, FailedDelivery
from webhooks.targets import UnsafeTarget, check_url


class EndpointForm(forms.ModelForm):
    """Staff editing an endpoint's URL meet the same check as its owner through the API."""

    url = forms.URLField(max_length=2000, assume_scheme="https")

    class Meta:
        model = Endpoint
        fields = ["owner", "url", "description", "event_types", "all_customers", "ordering", "rate_limit", "is_active"]

    def clean_url(self) -> str:
        url = self.cleaned_data["url"]
        try:
            check_url(url)
        except UnsafeTarget as error:
            raise forms.ValidationError(str(error)) from error
        return url


@admin.register(Endpoint)
class EndpointAdmin(admin.ModelAdmin):
    form = EndpointForm
    list_display = [
        "url",
        "owner",
        "is_active",
        "disabled_reason",
        "all_customers",
        "ordering",
        "rate_limit",
        "failing_since",
        "created_at",
    ]
    list_filter = ["is_active", "disabled_reason", "all_customers", "ordering"]
    search_fields = ["url", "description", "owner__username", "=id"]
    list_select_related = ["owner"]
    fields = [
        "id",
        "owner",
        "url",
        "description",
        "event_types",
        "all_customers",
        "ordering",
        "rate_limit",
        "is_active",
        "disabled_reason",
        "masked_secret",
        "previous_secret_expires_at",
        "failing_since",
        "created_at",
        "updated_at",
    ]
    readonly_fields = [
        "id",
        "disabled_reason",
        "masked_secret",
        "previous_secret_expires_at",
        "failing_since",
        "created_at",
        "updated_at",
    ]
    actions = ["enable", "disable", "rotate_secret", "send_test"]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # endpoints are created through the API, which shows the secret once

    @admin.display(description="secret")
    def masked_secret(self, endpoint: Endpoint) -> str:
        return signing.masked(endpoint.secret)

    @admin.action(description="Enable selected endpoints")
    def enable(self, request: HttpRequest, endpoints: QuerySet[Endpoint]) -> None:
        for endpoint in endpoints:
            services.set_endpoint_active(endpoint=endpoint, active=True)
        self.message_user(
            request,
            f"Enabled {len(endpoints)} endpoint(s). Recover their failed deliveries from the failed deliveries list.",
            messages.SUCCESS,
        )

    @admin.action(description="Disable selected endpoints")
    def disable(self, request: HttpRequest, endpoints: QuerySet[Endpoint]) -> None:
        for endpoint in endpoints:
            services.set_endpoint_active(endpoint=endpoint, active=False)
        self.message_user(request, f"Disabled {len(endpoints)} endpoint(s).", messages.SUCCESS)

    @admin.action(description="Rotate secret (the old one signs for 24 h more)")
    def rotate_secret(self, request: HttpRequest, endpoints: QuerySet[Endpoint]) -> None:
        for endpoint in endpoints:
            services.rotate_secret(endpoint=endpoint)
        self.message_user(
            request,
            f"Rotated the secret of {len(endpoints)} endpoint(s); owners read the new "
            "one with POST /v1/webhooks/{id}/rotate-secret or in their dashboard.",
            messages.SUCCESS,
        )

    @admin.action(description="Send a webhook.test event")
    def send_test(self, request: HttpRequest, endpoints: QuerySet[Endpoint]) -> None:
        for endpoint in endpoints:
            services.send_test_event(endpoint=endpoint)
        self.message_user(request, f"Queued a test event to {len(endpoints)} endpoint(s).", messages.SUCCESS)


class AttemptInline(ReadOnlyTabularInline):
    model = Attempt
    fields = ["attempted_at", "response_status", "duration_ms", "error", "response_body"]


class DeliveryAdminBase(admin.ModelAdmin):
    list_display = ["id", "event_type", "endpoint", "status", "attempt_count", "next_attempt_at", "updated_at"]
    list_filter = ["status", "event__type", "endpoint", "created_at"]
    search_fields = ["=id", "=event__id", "endpoint__url"]
    date_hierarchy = "created_at"
    list_select_related = ["event", "endpoint"]
    fields = [
        "id",
        "event",
        "endpoint",
        "status",
        "subject",
        "sequence",
        "attempt_count",
        "next_attempt_at",
        "created_at",
        "updated_at",
    ]
    readonly_fields = fields
    inlines = [AttemptInline]
    actions = ["retry"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    @admin.display(description="event type", ordering="event__type")
    def event_type(self, delivery: Delivery) -> str:
        return delivery.event.type

    @admin.action(description="Retry selected deliveries", permissions=["view"])
    def retry(self, request: HttpRequest, deliveries: QuerySet[Delivery]) -> None:
        count = services.resend_deliveries(deliveries)
        skipped = len(deliveries) - count
        note = f" {skipped} still pending were left as they are." if skipped else ""
        self.message_user(request, f"Queued {count} deliveries to be sent again.{note}", messages.SUCCESS)


@admin.register(Delivery)
class DeliveryAdmin(DeliveryAdminBase):
    pass


@admin.register(FailedDelivery)
class FailedDeliveryAdmin(DeliveryAdminBase):
    list_filter = ["event__type", "endpoint", "updated_at"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Delivery]:
        return super().get_queryset(request).filter(status=DeliveryStatus.FAILED)
