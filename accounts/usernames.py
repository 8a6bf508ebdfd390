"""One name per person: usernames compare without regard to case or Unicode compatibility forms
(`Alice`, `alice` and its full-width spelling are one name)."""

import hashlib
import unicodedata


def canonical_username(username: str) -> str:
    """The form two usernames are compared in: NFKC, then case-folded (`ß` and `ss` are one), then
    NFKC again, since folding can undo the normal form."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", username).casefold())


def username_key(username: str) -> str:
    """What `accounts.models.UsernameClaim` stores: fixed length, however far NFKC expands a name."""
    return hashlib.sha256(canonical_username(username).encode()).hexdigest()


def legacy_duplicate_key(username: str, user_id: int) -> str:
    """The claim of an account that already shared its name with an older one when claims began:
    it keeps working, and the older account keeps the name."""
    return hashlib.sha256(f"{canonical_username(username)}\0{user_id}".encode()).hexdigest()
