"""The portal's base view: the API's machinery (its serializers, services, rate limits and
problem documents), answered as HTML.

Every error goes through the API's one exception handler (`core.problems`) and is shown as its
problem document in words: a whole page, or, for an htmx request, a message swapped into the
page's message area (HX-Retarget), so the part of the page the request was for stays as it was.
"""

from django.template.response import TemplateResponse
from rest_framework import exceptions
from rest_framework.parsers import FormParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import TemplateHTMLRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.throttling import ApiKeyRateThrottle
from core.problems import problem
from portal.authentication import PortalSessionAuthentication

SESSION_ENDED = (
    "This portal session has ended (it expired, you signed out, or the key that made its link was revoked). "
    "Open a new portal link."
)


def is_htmx(request) -> bool:
    return request.headers.get("HX-Request") == "true"


class PortalView(APIView):
    authentication_classes = [PortalSessionAuthentication]
    permission_classes = [IsAuthenticated]
    renderer_classes = [TemplateHTMLRenderer]
    parser_classes = [FormParser]
    throttle_classes = [ApiKeyRateThrottle]  # the portal link stands for the customer's key (`PortalLink.user_id`)
    schema = None  # pages, not API operations

    @property
    def customer(self):
        return self.request.user

    def page(self, template: str, context: dict | None = None, *, status: int = 200) -> Response:
        return Response({"customer": self.customer, **(context or {})}, template_name=template, status=status)

    def handle_exception(self, exc):
        if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
            exc = exceptions.PermissionDenied(SESSION_ENDED)
        response = super().handle_exception(exc)
        body = response.data if isinstance(response.data, dict) and "status" in response.data else None
        body = body or problem(status=response.status_code, detail=str(exc))
        if not isinstance(getattr(self.request, "accepted_renderer", None), TemplateHTMLRenderer):
            return response  # the JSON and event-stream parts answer with the problem document itself
        if is_htmx(self.request):
            response.template_name = "portal/_problem.html"
            response["HX-Retarget"] = "#messages"
            response["HX-Reswap"] = "innerHTML"
        else:
            response.template_name = "portal/problem.html"
        response.data = {"problem": body, "customer": getattr(self.request, "user", None)}
        response.content_type = None  # the renderer's text/html, not the problem's JSON type
        response.exception = False  # else DRF's template renderer shows its bare "403.html" instead
        return response


def refused_page(request, detail: str, *, status: int = 403) -> TemplateResponse:
    """The answer to a link that does not open (a plain Django view, before any session)."""
    body = problem(status=status, detail=detail, code="portal-link-refused", title="This portal link does not open")
    return TemplateResponse(request, "portal/problem.html", {"problem": body}, status=status)
