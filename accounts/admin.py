from django.contrib import admin
from django.contrib.auth import admin as auth_admin  # registers Django's UserAdmin, replaced below
from django.contrib.auth.models import User

from accounts.forms import UserCreationForm, UserEditForm
from accounts.models import ApiKey

admin.site.unregister(User)


@admin.register(User)
class UserAdmin(auth_admin.UserAdmin):
    form = UserEditForm
    add_form = UserCreationForm


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ["prefix", "user", "name", "created_at", "revoked_at"]
    list_filter = ["revoked_at"]
    search_fields = ["prefix", "user__username", "name"]
    readonly_fields = ["prefix", "user", "created_at"]
    fields = ["prefix", "user", "name", "created_at", "revoked_at"]

    def has_add_permission(self, request) -> bool:
        return False  # keys are issued by the API or `manage.py create_api_key`, shown once
