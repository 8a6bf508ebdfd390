from rest_framework import authentication, exceptions

from accounts.services import user_for_key


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer <api key>`."""

    keyword = "Bearer"

    def authenticate(self, request):
        scheme, _, raw_key = authentication.get_authorization_header(request).decode("latin-1").partition(" ")
        if scheme.lower() != self.keyword.lower():
            return None
        raw_key = raw_key.strip()
        found = user_for_key(raw_key) if raw_key else None
        if found is None:
            raise exceptions.AuthenticationFailed("The API key is not valid.")
        return found

    def authenticate_header(self, request) -> str:
        return self.keyword
