from rest_framework.authentication import SessionAuthentication

from portal import services

COOKIE = "petstore_portal"
COOKIE_PATH = "/portal/"


class PortalSessionAuthentication(SessionAuthentication):
    """The portal session's cookie, read back from the database on every request
    (`services.session_link`); unsafe methods need Django's CSRF token, as Django's own
    session authentication does. `request.user` is the customer, `request.auth` the link."""

    def authenticate(self, request):
        cookie = request._request.COOKIES.get(COOKIE)
        link = services.session_link(cookie) if cookie else None
        if link is None:
            return None
        self.enforce_csrf(request)
        return link.customer, link
