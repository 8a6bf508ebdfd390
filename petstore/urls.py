from django.apps import apps
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import SimpleRouter

from accounts.views import TokenDetailView, TokenView, UserRegistrationView
from events.stream.views import EventStreamView
from events.views import AsyncApiView, EventTypesView, EventViewSet
from inventory.views import InventoryView, PetViewSet
from orders.views import OrderViewSet
from petstore import health
from petstore.metrics import metrics_view
from portal.api import PortalLinksView
from webhooks.views import EndpointViewSet

router = SimpleRouter(trailing_slash=False)
router.register("pets", PetViewSet, basename="pet")
router.register("orders", OrderViewSet, basename="order")
router.register("events", EventViewSet, basename="event")
router.register("webhooks", EndpointViewSet, basename="webhook")

api = [
    path("users", UserRegistrationView.as_view(), name="user-register"),
    path("auth/tokens", TokenView.as_view(), name="auth-tokens"),
    path("auth/tokens/<pk>", TokenDetailView.as_view(), name="auth-token"),
    path("store/inventory", InventoryView.as_view(), name="store-inventory"),
    path("event-types", EventTypesView.as_view(), name="event-types"),
    path("events/stream", EventStreamView.as_view(), name="event-stream"),
    path("asyncapi", AsyncApiView.as_view(), name="asyncapi"),
    path("portal/links", PortalLinksView.as_view(), name="portal-links"),
    path("schema", SpectacularAPIView.as_view(), name="schema"),
    path("docs", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    *router.urls,
]

urlpatterns = [
    path("v1/", include(api)),
    path("admin/", admin.site.urls),
    path("portal/", include("portal.urls")),
    path("healthz", health.healthz),
    path("readyz", health.readyz),
    path("metrics", metrics_view),
]

if apps.is_installed("bench"):
    urlpatterns.append(path("bench/", include("bench.urls")))

handler400 = "core.problems.bad_request"
handler403 = "core.problems.permission_denied"
handler404 = "core.problems.not_found"
handler500 = "core.problems.server_error"
