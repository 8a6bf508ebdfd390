"""The portal's page headers: a Content-Security-Policy (Django 5.2 has none of its own) that lets
no inline script run, and framing by PORTAL_FRAME_ANCESTORS alone."""

from django.conf import settings

PORTAL_PATH = "/portal/"


def content_security_policy() -> str:
    ancestors = " ".join(settings.PORTAL_FRAME_ANCESTORS) or "'none'"
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            f"frame-ancestors {ancestors}",
        ]
    )


class PortalPageMiddleware:
    """Listed after Django's XFrameOptionsMiddleware, so it sees the response first: with frame
    ancestors allowed, X-Frame-Options (which can only say DENY or SAMEORIGIN) is left out, and
    browsers follow frame-ancestors alone; with none, both say no."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if request.path.startswith(PORTAL_PATH):
            response["Content-Security-Policy"] = content_security_policy()
            response["Referrer-Policy"] = "same-origin"  # no Referer leaves the site (Origin stays, for CSRF)
            response["Cache-Control"] = "no-store"
            if settings.PORTAL_FRAME_ANCESTORS:
                response.xframe_options_exempt = True
            else:
                response["X-Frame-Options"] = "DENY"
        return response
