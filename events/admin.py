import json

from django.contrib import admin
from django.utils.html import format_html

from events.models import Event


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ["id", "type", "subject", "sequence", "owner", "created_at", "dispatched_at"]
    list_filter = ["type", ("dispatched_at", admin.EmptyFieldListFilter), "created_at"]
    search_fields = ["=id", "=subject", "owner__username"]
    date_hierarchy = "created_at"
    fields = ["id", "type", "owner", "subject", "sequence", "created_at", "dispatched_at", "traceparent", "pretty_data"]
    readonly_fields = fields

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="data")
    def pretty_data(self, event: Event) -> str:
        return format_html("<pre>{}</pre>", json.dumps(event.data, indent=2))
