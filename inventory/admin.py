from django.contrib import admin, messages

from inventory import services
from inventory.forms import PetForm
from inventory.models import Pet


@admin.register(Pet)
class PetAdmin(admin.ModelAdmin):
    form = PetForm
    list_display = ["name", "species", "price", "currency", "stock", "reserved", "low_stock_threshold", "status"]
    list_filter = ["species"]
    search_fields = ["name", "=id"]
    # Stock moves with orders while the form is open: it is shown, never written back. Staff add
    # to it through the same restock service as the API (limit, inventory.updated).
    readonly_fields = ["id", "stock", "reserved", "created_at", "updated_at"]
    fields = [
        "id",
        "name",
        "species",
        "price",
        "currency",
        "stock",
        "reserved",
        "add_stock",
        "low_stock_threshold",
        "created_at",
        "updated_at",
    ]

    def save_model(self, request, obj, form, change) -> None:
        if change:
            changed = {name: form.cleaned_data[name] for name in form.changed_data if name in PetForm.Meta.fields}
            services.update_pet(pet=obj, **changed)
        else:
            services.add_pet(pet=obj)
        if quantity := form.cleaned_data.get("add_stock"):
            try:
                obj.stock = services.restock(pet_id=obj.id, quantity=quantity).stock
            except services.TooMuchStock as error:  # another restock won the room meanwhile
                self.message_user(request, f"Not restocked: {error.detail}", messages.ERROR)
