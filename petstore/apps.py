from django.contrib.admin import apps


class PetstoreAdminConfig(apps.AdminConfig):
    """Django's admin, with the dashboard front page of `petstore.admin_site`."""

    default = False
    default_site = "petstore.admin_site.PetstoreAdminSite"
