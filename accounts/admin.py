from django.contrib import admin, messages
from django.contrib.auth import admin as auth_admin  # registers Django's UserAdmin, replaced below
from django.contrib.auth.models import User

from accounts import services
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
    readonly_fields = ["prefix", "user", "created_at", "last_used_at", "revoked_at"]
    fields = ["prefix", "user", "name", "created_at", "last_used_at", "revoked_at"]
    actions = ["revoke"]

    @admin.action(description="Revoke the selected keys", permissions=["change"])
    def revoke(self, request, queryset) -> None:
        # Through the service, as the API revokes: all at once everywhere, or not at all.
        try:
            for api_key in queryset.filter(revoked_at__isnull=True):
                services.revoke_api_key(api_key=api_key)
        except services.KeyCacheUnreachable as error:
            self.message_user(request, error.detail, messages.ERROR)
        else:
            self.message_user(request, "The keys are revoked.", messages.SUCCESS)

    def has_add_permission(self, request) -> bool:
        return False  # keys are issued by the API or `manage.py create_api_key`, shown once
