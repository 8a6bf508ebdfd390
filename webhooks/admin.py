from django import forms
from django.contrib import admin, messages
from django.db import models
from django.db.models import QuerySet, Subquery
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from core.admin import ReadOnlyTabularInline
from core.forms import BoundedJSONField
from webhooks import selectors, services
from webhooks.models import Attempt, Delivery, DeliveryStatus, Endpoint, FailedDelivery
from webhooks.pipeline import signing
from webhooks.pipeline.targets import UnsafeTarget, check_url


class EndpointForm(forms.ModelForm):
    """Staff editing an endpoint's URL meet the same check as its owner through the API."""

    url = forms.URLField(max_length=2000, assume_scheme="https")

    class Meta:
        model = Endpoint
        fields = [
            "owner",
            "url",
            "description",
            "event_types",
            "filter",
            "all_customers",
            "ordering",
            "rate_limit",
            "is_active",
        ]

    def clean_url(self) -> str:
        url = self.cleaned_data["url"]
        try:
            check_url(url)
        except UnsafeTarget as error:
            raise forms.ValidationError(str(error)) from error
        return url

    def clean(self) -> dict:
        """The filter meets the API's check, against the event types as edited."""
        cleaned = super().clean()
        if "filter" in cleaned and "event_types" in cleaned:
            errors = services.filter_errors(filter=cleaned["filter"], event_types=cleaned["event_types"])
            for where, messages in errors.items():
                self.add_error("filter", [f"{where}: {message}" for message in messages])
        return cleaned


def health(endpoint: Endpoint) -> str:
    """An endpoint's state in a few words: why it is disabled, since when it fails, or healthy."""
    if not endpoint.is_active:
        return f"disabled: {endpoint.get_disabled_reason_display() or 'no reason recorded'}"
    if endpoint.failing_since is not None:
        return f"failing since {endpoint.failing_since:%Y-%m-%d %H:%M:%S} UTC"
    return "healthy"


def when(moment) -> str:
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC" if moment else "-"


@admin.register(Endpoint)
class EndpointAdmin(admin.ModelAdmin):
    form = EndpointForm
    list_display = [
        "url",
        "owner",
        "is_active",
        "endpoint_health",
        "next_attempt",
        "all_customers",
        "ordering",
        "rate_limit",
        "created_at",
    ]
    list_filter = ["is_active", "disabled_reason", "all_customers", "ordering"]
    search_fields = ["url", "description", "owner__username", "=id"]
    list_select_related = ["owner"]
    fieldsets = [
        (None, {"fields": ["id", "owner", "url", "description", "event_types", "all_customers"]}),
        ("Delivery options", {"fields": ["filter", "ordering", "rate_limit"]}),
        (
            "Health: why the receiver is unhappy",
            {"fields": ["is_active", "endpoint_health", "failing_since", "next_attempt", "recent_deliveries"]},
        ),
        ("Secret", {"fields": ["masked_secret", "previous_secret_expires_at"]}),
        (None, {"fields": ["created_at", "updated_at"]}),
    ]
    readonly_fields = [
        "id",
        "endpoint_health",
        "next_attempt",
        "recent_deliveries",
        "masked_secret",
        "previous_secret_expires_at",
        "failing_since",
        "created_at",
        "updated_at",
    ]
    actions = ["enable", "disable", "rotate_secret", "send_test"]
    formfield_overrides = {
        models.URLField: {"assume_scheme": "https"},
        models.JSONField: {"form_class": BoundedJSONField},  # no RecursionError on a deep text
    }

    def get_queryset(self, request: HttpRequest) -> QuerySet[Endpoint]:
        return selectors.with_next_attempt(super().get_queryset(request))

    def get_changelist(self, request: HttpRequest, **kwargs):
        changelist = super().get_changelist(request, **kwargs)

        class WithoutSecrets(changelist):  # the list shows no secret: none decrypted per row
            def get_queryset(self, request, exclude_parameters=None):
                return super().get_queryset(request, exclude_parameters).defer("secret", "previous_secret")

        return WithoutSecrets

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # endpoints are created through the API, which shows the secret once

    def save_model(self, request: HttpRequest, endpoint: Endpoint, form: forms.ModelForm, change: bool) -> None:
        # Through the service: enabling or disabling here is a state change like any other (its event).
        services.update_endpoint(endpoint=endpoint, **{field: form.cleaned_data[field] for field in form.changed_data})

    @admin.display(description="secret")
    def masked_secret(self, endpoint: Endpoint) -> str:
        if endpoint.needs_secret_rotation:
            return "cannot be decrypted with FIELD_ENCRYPTION_KEYS: rotate it (deliveries fail until then)"
        return signing.masked(endpoint.secret)

    @admin.display(description="health")
    def endpoint_health(self, endpoint: Endpoint) -> str:
        return health(endpoint)

    @admin.display(description="next attempt", ordering="next_attempt_at")
    def next_attempt(self, endpoint: Endpoint) -> str:
        return when(endpoint.next_attempt_at)

    @admin.display(description="latest deliveries")
    def recent_deliveries(self, endpoint: Endpoint) -> str:
        deliveries = selectors.recent_deliveries(endpoint)
        if not deliveries:
            return "none yet"
        rows = format_html_join(
            "",
            '<tr><td><a href="{}">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>',
            (
                (
                    reverse("admin:webhooks_delivery_change", args=[delivery.id]),
                    delivery.event.type,
                    delivery.status,
                    delivery.attempt_count,
                    when(delivery.last_attempted_at),
                    delivery.last_status or "-",
                    delivery.last_error or "-",
                )
                for delivery in deliveries
            ),
        )
        failed = reverse("admin:webhooks_faileddelivery_changelist") + f"?endpoint__id__exact={endpoint.id}"
        return format_html(
            '<table id="recent-deliveries"><thead><tr><th>delivery</th><th>status</th><th>attempts</th>'
            "<th>last attempt</th><th>response</th><th>error</th></tr></thead><tbody>{}</tbody></table>"
            '<p><a href="{}">All its failed deliveries</a></p>',
            rows,
            failed,
        )

    @admin.action(description="Enable selected endpoints", permissions=["change"])
    def enable(self, request: HttpRequest, endpoints: QuerySet[Endpoint]) -> None:
        for endpoint in endpoints:
            services.set_endpoint_active(endpoint=endpoint, active=True)
        self.message_user(
            request,
            f"Enabled {len(endpoints)} endpoint(s). Recover their failed deliveries from the failed deliveries list.",
            messages.SUCCESS,
        )

    @admin.action(description="Disable selected endpoints", permissions=["change"])
    def disable(self, request: HttpRequest, endpoints: QuerySet[Endpoint]) -> None:
        for endpoint in endpoints:
            services.set_endpoint_active(endpoint=endpoint, active=False)
        self.message_user(request, f"Disabled {len(endpoints)} endpoint(s).", messages.SUCCESS)

    @admin.action(description="Rotate secret (the old one signs for 24 h more)", permissions=["change"])
    def rotate_secret(self, request: HttpRequest, endpoints: QuerySet[Endpoint]) -> None:
        for endpoint in endpoints:
            services.rotate_secret(endpoint=endpoint)
        self.message_user(
            request,
            f"Rotated the secret of {len(endpoints)} endpoint(s); owners read the new "
            "one with POST /v1/webhooks/{id}/rotate-secret or in their dashboard.",
            messages.SUCCESS,
        )

    @admin.action(description="Send a webhook.test event", permissions=["change"])
    def send_test(self, request: HttpRequest, endpoints: QuerySet[Endpoint]) -> None:
        for endpoint in endpoints:
            services.send_test_event(endpoint=endpoint)
        self.message_user(request, f"Queued a test event to {len(endpoints)} endpoint(s).", messages.SUCCESS)


class EndpointListFilter(admin.RelatedFieldListFilter):
    """Endpoints by URL, read without their secrets (the default filter decrypts each one's)."""

    def field_choices(self, field, request, model_admin):
        return list(Endpoint.objects.order_by("url").values_list("id", "url"))


class AttemptInline(ReadOnlyTabularInline):
    model = Attempt
    verbose_name_plural = f"attempts (the latest {selectors.ATTEMPTS_SHOWN}; the delivery's attempt count has them all)"
    fields = ["attempted_at", "response_status", "duration_ms", "error", "response_body"]


class DeliveryAdminBase(admin.ModelAdmin):
    list_display = ["id", "event_type", "endpoint", "status", "attempt_count", "last_response", "next_attempt_at"]
    list_filter = ["status", "event__type", ("endpoint", EndpointListFilter), "created_at"]
    search_fields = ["=id", "=event__id", "endpoint__url"]
    date_hierarchy = "created_at"
    list_select_related = ["event", "endpoint"]
    fields = [
        "id",
        "event",
        "endpoint",
        "endpoint_health",
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

    def get_queryset(self, request: HttpRequest) -> QuerySet[Delivery]:
        # The endpoints' secrets are never shown here: not read, so not decrypted row by row.
        deliveries = super().get_queryset(request).defer("endpoint__secret", "endpoint__previous_secret")
        return selectors.with_endpoint_next_attempt(selectors.with_last_attempt(deliveries))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def get_formset_kwargs(self, request: HttpRequest, obj, inline, prefix: str) -> dict:
        kwargs = super().get_formset_kwargs(request, obj, inline, prefix)
        if isinstance(inline, AttemptInline) and obj is not None:  # the latest few, however many there are
            latest = selectors.latest_attempts().filter(delivery=obj).values("id")[: selectors.ATTEMPTS_SHOWN]
            kwargs["queryset"] = kwargs["queryset"].filter(id__in=Subquery(latest))
        return kwargs

    @admin.display(description="event type", ordering="event__type")
    def event_type(self, delivery: Delivery) -> str:
        return delivery.event.type

    @admin.display(description="attempts", ordering="attempt_count")
    def attempts(self, delivery: Delivery) -> int:
        return delivery.attempt_count

    @admin.display(description="last response", ordering="last_attempted_at")
    def last_response(self, delivery: Delivery) -> str:
        """What the receiver last said (status, error) and when: why the delivery is where it is."""
        if delivery.last_attempted_at is None:
            return "no attempt yet"
        said = " · ".join(str(part) for part in (delivery.last_status, delivery.last_error) if part)
        return f"{said or 'no response'} at {when(delivery.last_attempted_at)}"

    @admin.display(description="endpoint health")
    def endpoint_health(self, delivery: Delivery) -> str:
        if delivery.endpoint_next_attempt_at is None or not delivery.endpoint.is_active:
            return health(delivery.endpoint)
        return f"{health(delivery.endpoint)}; next attempt {when(delivery.endpoint_next_attempt_at)}"

    def has_resend_permission(self, request: HttpRequest) -> bool:
        # The pages are read-only to everyone (no change permission here), but sending again is a
        # change: it takes the change permission of deliveries, not the view one.
        return request.user.has_perm(f"{Delivery._meta.app_label}.change_delivery")

    @admin.action(description="Retry selected deliveries", permissions=["resend"])
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
    """Each failed delivery with why (its last response) and how its endpoint is now."""

    list_display = ["event_type", "endpoint", "attempts", "last_response", "endpoint_health"]
    list_display_links = ["event_type"]
    list_filter = ["event__type", ("endpoint", EndpointListFilter), "updated_at"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Delivery]:
        return super().get_queryset(request).filter(status=DeliveryStatus.FAILED)
