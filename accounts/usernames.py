"""One name per person: usernames compare without regard to case or Unicode compatibility forms
(`Alice`, `alice` and its full-width spelling are one name)."""

import unicodedata


def canonical_username(username: str) -> str:
    """The form two usernames are compared in: NFKC, then case-folded (`ß` and `ss` are one), then
    NFKC again, since folding can undo the normal form."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", username).casefold())
