from django.contrib import admin

from petstore.dashboard import dashboard_figures


class PetstoreAdminSite(admin.AdminSite):
    site_header = "Petstore Events"
    site_title = "Petstore Events admin"
    index_title = "Dashboard"
    index_template = "admin/petstore_index.html"

    def index(self, request, extra_context=None):
        return super().index(request, {"dashboard": dashboard_figures(), **(extra_context or {})})
