"""What the order workers do with each event: the order side of the dispatcher's routing."""

from django.dispatch import receiver

from events.models import Event, EventType
from events.signals import event_published
from orders import tasks
from orders.models import EmailKind


@receiver(event_published, dispatch_uid="orders.enqueue_order_work")
def enqueue_order_work(sender, event: Event, **kwargs) -> None:
    order_id = str(event.subject_id)
    match event.type:
        case EventType.ORDER_CREATED:
            tasks.charge_payment.delay(order_id)
        case EventType.PAYMENT_SUCCEEDED:
            tasks.commit_stock.delay(order_id)
            tasks.send_order_email.delay(order_id, EmailKind.CONFIRMATION)
        case EventType.ORDER_CANCELLED:
            tasks.send_order_email.delay(order_id, EmailKind.CANCELLATION)
        case EventType.ORDER_SHIPPED:
            tasks.send_order_email.delay(order_id, EmailKind.SHIPPING)
