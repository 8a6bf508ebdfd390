from django.urls import path

from portal import views

app_name = "portal"

urlpatterns = [
    path("enter/<str:token>", views.enter, name="enter"),
    path("", views.EndpointListView.as_view(), name="endpoints"),
    path("sign-out", views.SignOutView.as_view(), name="sign-out"),
    path("endpoints/new", views.EndpointCreateView.as_view(), name="endpoint-create"),
    path("endpoints/<uuid:pk>", views.EndpointDetailView.as_view(), name="endpoint"),
    path("endpoints/<uuid:pk>/edit", views.EndpointEditView.as_view(), name="endpoint-edit"),
    path("endpoints/<uuid:pk>/enable", views.EndpointActiveView.as_view(active=True), name="endpoint-enable"),
    path("endpoints/<uuid:pk>/disable", views.EndpointActiveView.as_view(active=False), name="endpoint-disable"),
    path("endpoints/<uuid:pk>/delete", views.EndpointDeleteView.as_view(), name="endpoint-delete"),
    path("endpoints/<uuid:pk>/rotate-secret", views.RotateSecretView.as_view(), name="endpoint-rotate"),
    path("endpoints/<uuid:pk>/test", views.SendTestView.as_view(), name="endpoint-test"),
    path("endpoints/<uuid:pk>/deliveries", views.DeliveriesView.as_view(), name="deliveries"),
    path(
        "endpoints/<uuid:pk>/deliveries/<uuid:delivery_id>/resend", views.ResendView.as_view(), name="delivery-resend"
    ),
    path("endpoints/<uuid:pk>/recover", views.RecoverView.as_view(), name="endpoint-recover"),
    path("endpoints/<uuid:pk>/health", views.HealthView.as_view(), name="endpoint-health"),
    path("events/catalog", views.CatalogView.as_view(), name="catalog"),
    path("events/live", views.LiveView.as_view(), name="live"),
    path("events/stream", views.EventStreamView.as_view(), name="stream"),
]
