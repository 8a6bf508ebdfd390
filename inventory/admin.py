from django.contrib import admin

from inventory.models import Pet


@admin.register(Pet)
class PetAdmin(admin.ModelAdmin):
    list_display = ["name", "species", "price", "currency", "stock", "reserved", "low_stock_threshold", "status"]
    list_filter = ["species"]
    search_fields = ["name", "=id"]
    readonly_fields = ["id", "reserved", "created_at", "updated_at"]
