"""Domain errors: raised by services, turned into problem documents by the API's one handler."""


class DomainError(Exception):
    """A request that is well-formed but cannot be carried out in the current state."""

    status = 409
    code = "conflict"
    title = "Conflict"

    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail
