"""An event's subject names what it is about: `<kind>/<id>`, e.g. `order/0193…` or `pet/0193…`."""

import uuid


def subject(kind: str, id: uuid.UUID | str) -> str:
    return f"{kind}/{id}"


def split(subject: str) -> tuple[str, str]:
    """`order/0193…` → `("order", "0193…")`."""
    kind, _, id = subject.partition("/")
    return kind, id
