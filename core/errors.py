"""Domain errors: raised by services, turned into problem documents by the API's one handler."""


class DomainError(Exception):
    """A request that is well-formed but cannot be carried out in the current state."""

    status = 409
    code = "conflict"
    title = "Conflict"

    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail


class TryAgainLater(DomainError):
    """Refused for now, nothing changed: the client may try again after `retry_after` seconds
    (sent as Retry-After)."""

    status = 503
    code = "try-again-later"
    title = "Try again later"

    def __init__(self, detail: str, *, retry_after: int):
        super().__init__(detail)
        self.retry_after = max(int(retry_after), 1)


class TooManyRequests(TryAgainLater):
    status = 429
    code = "too-many-requests"
    title = "Too many requests"
