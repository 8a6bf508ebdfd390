from django.contrib import admin
from django.template.loader import render_to_string

from core.admin import ReadOnlyTabularInline
from orders.models import Order, OrderEmail, OrderItem
from orders.selectors import order_timeline


class OrderItemInline(ReadOnlyTabularInline):
    model = OrderItem
    fields = ["pet", "quantity", "unit_price"]


class OrderEmailInline(ReadOnlyTabularInline):
    model = OrderEmail
    fields = ["kind", "claimed_at", "sent_at"]


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ["id", "user", "status", "payment_status", "total", "currency", "created_at"]
    list_filter = ["status", "payment_status", "cancel_reason", "created_at"]
    search_fields = ["=id", "user__username", "user__email", "charge_id"]
    date_hierarchy = "created_at"
    list_select_related = ["user"]
    inlines = [OrderItemInline, OrderEmailInline]
    fieldsets = [
        (None, {"fields": ["id", "user", "status", "cancel_reason", "total", "currency", "created_at", "updated_at"]}),
        ("Payment", {"fields": ["payment_method", "payment_status", "charge_id"]}),
        ("Processing", {"fields": ["stock_committed_at", "completed_at"]}),
        ("Timeline", {"fields": ["timeline"]}),
    ]
    readonly_fields = [field for fieldset in fieldsets for field in fieldset[1]["fields"]]

    def has_add_permission(self, request) -> bool:
        return False  # orders are placed through the API, which reserves stock and records events

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # an order changes through its services (API), which record its events

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="Events and their webhook deliveries")
    def timeline(self, order: Order) -> str:
        events = order_timeline(order).prefetch_related("deliveries__endpoint", "deliveries__attempts")
        return render_to_string("admin/orders/timeline.html", {"events": events})
