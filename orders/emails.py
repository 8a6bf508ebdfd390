"""The mails an order sends, rendered from text and HTML templates.

They go to the account's address only (an order names no address of its own), and that address is
not verified: anyone can register someone else's and have a declined payment or a cancel mail
them. So a mail says nothing the customer chose (no username, no free text): only our own words,
the order's id, its pets (named by staff) and its amounts, in fixed templates, the HTML escaped.
"""

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string

from orders.models import EmailKind, Order

SUBJECTS = {
    EmailKind.CONFIRMATION: "Your Petstore order is confirmed",
    EmailKind.CANCELLATION: "Your Petstore order was cancelled",
    EmailKind.SHIPPING: "Your Petstore order is on its way",
}


def build_order_email(*, order: Order, kind: EmailKind) -> EmailMultiAlternatives:
    context = {"order": order, "items": order.items.all()}  # prefetched with their pets where it matters
    message = EmailMultiAlternatives(
        subject=SUBJECTS[kind],
        body=render_to_string(f"orders/email/{kind}.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[order.user.email],
        # The same Message-ID for every copy: a copy resent after a crash shows up as one mail.
        headers={"X-Petstore-Order": str(order.id), "Message-ID": f"<{order.id}.{kind}@petstore.events>"},
    )
    message.attach_alternative(render_to_string(f"orders/email/{kind}.html", context), "text/html")
    return message
