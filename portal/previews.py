"""Requests that fetch a link without a person behind them: chat and mail apps unfurling a pasted
link into a preview, and browsers prefetching one. A portal link opens once, so such a request
must not use it up before its customer clicks it (Slack, Teams and WhatsApp fetch a link as soon
as it is posted).

They are told by what they say of themselves: the User-Agent tokens the unfurlers document, and
the prefetch headers browsers send. A scanner that passes itself off as a browser (some mail
gateways rewrite and visit links so) is not told apart: its visit opens the link, and the customer
asks for a new one.
"""

import re

# Documented by each: Slack, Facebook and Messenger, X, LinkedIn, Discord, Telegram, WhatsApp,
# Microsoft Teams and Skype (SkypeUriPreview; not "Teams", which its desktop app says of itself),
# Apple's Messages, Mastodon, Pinterest, Embedly, Iframely, Google Chat.
_UNFURLERS = re.compile(
    r"Slackbot|Slack-ImgProxy|facebookexternalhit|Facebot|Twitterbot|LinkedInBot|Discordbot|TelegramBot"
    r"|WhatsApp|SkypeUriPreview|MicrosoftPreview|Applebot|Mastodon|Pinterestbot|Embedly|Iframely"
    r"|Google-PageRenderer|GoogleOther",
    re.IGNORECASE,
)


def is_link_preview(request) -> bool:
    """Whether the request fetches the link for a preview or a prefetch, not for a person."""
    purpose = request.headers.get("Sec-Purpose", "") or request.headers.get("Purpose", "")
    if "prefetch" in purpose.lower() or request.headers.get("X-Purpose", "").lower() in ("preview", "prefetch"):
        return True
    return bool(_UNFURLERS.search(request.headers.get("User-Agent", "")))
