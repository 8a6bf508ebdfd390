from rest_framework import authentication, exceptions

from accounts import throttling
from accounts.services import user_for_key
from core.client_address import client_address


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer <api key>`."""

    keyword = "Bearer"

    def authenticate(self, request):
        scheme, _, raw_key = authentication.get_authorization_header(request).decode("latin-1").partition(" ")
        if scheme.lower() != self.keyword.lower():
            return None
        raw_key = raw_key.strip()
        address = client_address(request)
        found = user_for_key(raw_key, before_database=lambda: throttling.refuse_while_guessing(address=address))
        if found is None:
            throttling.count_bad_key(address=address)
            raise exceptions.AuthenticationFailed("The API key is not valid.")
        return found

    def authenticate_header(self, request) -> str:
        return self.keyword
