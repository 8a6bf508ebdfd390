from django.contrib import admin

from petstore.dashboard import dashboard_figures


class PetstoreAdminSite(admin.AdminSite):
    site_header = "Petstore Events"
    site_title = "Petstore Events admin"
    index_title = "Dashboard"
    index_template = "admin/petstore_index.html"

    def index(self, request, extra_context=None):
        return super().index(request, {"dashboard": dashboard_figures(), **(extra_context or {})})


class ReadOnlyTabularInline(admin.TabularInline):
    """Rows that services write (items, e-mails, attempts): shown, never edited here."""

    extra = 0
    can_delete = False

    def get_readonly_fields(self, request, obj=None):
        return self.fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False
