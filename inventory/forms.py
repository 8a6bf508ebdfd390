"""The admin's pet form: stock is never typed in, only added to through the restock service."""

from django import forms

from inventory.models import MAX_STOCK, Pet


class PetForm(forms.ModelForm):
    add_stock = forms.IntegerField(
        min_value=1,
        max_value=MAX_STOCK,
        required=False,
        help_text=f"Units to add, as the API's restock does (at most {MAX_STOCK:,} units, reserved included).",
    )

    class Meta:
        model = Pet
        fields = ["name", "species", "price", "currency", "low_stock_threshold"]

    def clean_add_stock(self) -> int | None:
        # A friendly early answer; the restock's conditional UPDATE is what keeps the limit.
        quantity = self.cleaned_data.get("add_stock")
        held = self.instance.stock + self.instance.reserved
        if quantity and held + quantity > MAX_STOCK:
            raise forms.ValidationError(f"A pet holds at most {MAX_STOCK:,} units; at most {MAX_STOCK - held:,} more.")
        return quantity
