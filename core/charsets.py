"""Request charsets: only text encodings are ever used to read a request.

Django takes any `charset` that `codecs.lookup` knows as the request's encoding, including the
bytes-to-bytes codecs (`bz2`, `zlib`, `hex`, `rot13`…). Its encoding setter then rebuilds
`request.GET` on the spot, and decoding a query string with such a codec raises LookupError
inside the request's constructor, before any middleware: a plain-text 500 from the server. So
the request treats such a charset as it treats an unknown one (ignored: query string and forms
are read as UTF-8), and the JSON parser refuses a body in either with a 415 (`core.parsers`).
"""

from django.http import HttpRequest
from django.utils.http import parse_header_parameters


def is_text_encoding(charset: str) -> bool:
    try:
        "".encode(charset)  # str.encode refuses unknown and non-text codecs alike
    except (LookupError, UnicodeError, ValueError):
        return False
    return True


def _set_content_type_params(self: HttpRequest, meta) -> None:
    self.content_type, self.content_params = parse_header_parameters(meta.get("CONTENT_TYPE", ""))
    charset = self.content_params.get("charset")
    if charset and is_text_encoding(charset):
        self.encoding = charset


def read_requests_in_text_charsets_only() -> None:
    """Replace Django's charset handling of every request, WSGI and ASGI (called once, at start-up)."""
    HttpRequest._set_content_type_params = _set_content_type_params
