"""The admin site, with a dashboard front page for staff who are not developers."""

from datetime import timedelta

from django.contrib import admin
from django.utils import timezone

from accounts.forms import LimitedAdminAuthenticationForm
from events.selectors import outbox_backlog
from orders.models import OrderStatus
from orders.selectors import order_counts_by_status
from webhooks.selectors import disabled_endpoint_count, failed_deliveries_since


class PetstoreAdminSite(admin.AdminSite):
    site_header = "Petstore Events"
    site_title = "Petstore Events admin"
    index_title = "Dashboard"
    index_template = "admin/petstore_index.html"
    login_form = LimitedAdminAuthenticationForm

    def login(self, request, extra_context=None):
        response = super().login(request, extra_context)
        form = (getattr(response, "context_data", None) or {}).get("form")
        if (locked_out := getattr(form, "locked_out", None)) is not None:
            response.status_code = 429  # the page, with the reason, and when to come back
            response["Retry-After"] = str(locked_out.retry_after)
        return response

    def index(self, request, extra_context=None):
        return super().index(request, {"dashboard": dashboard_figures(), **(extra_context or {})})


def dashboard_figures() -> dict:
    day_ago = timezone.now() - timedelta(hours=24)
    by_status = order_counts_by_status(since=day_ago)
    backlog = outbox_backlog()
    return {
        "orders_by_status": [(value, label, by_status.get(value, 0)) for value, label in OrderStatus.choices],
        "failed_deliveries_24h": failed_deliveries_since(day_ago),
        "day_ago": day_ago,
        "disabled_endpoints": disabled_endpoint_count(),
        "outbox_backlog": backlog["count"],
        "outbox_oldest": backlog["oldest"],
    }
