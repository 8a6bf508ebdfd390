"""Thin tasks: load by id, call the service, decide on retry."""

from celery import shared_task

from orders import services
from orders.payments import PaymentTemporarilyFailed


@shared_task(
    name="orders.charge_payment",
    autoretry_for=(PaymentTemporarilyFailed,),
    retry_backoff=2,
    retry_backoff_max=60,  # stays well under the broker's visibility timeout
    retry_jitter=True,
    max_retries=8,
)
def charge_payment(order_id: str) -> None:
    services.capture_payment(order_id=order_id)


@shared_task(name="orders.commit_stock")
def commit_stock(order_id: str) -> None:
    services.commit_stock(order_id=order_id)


@shared_task(name="orders.send_order_email", autoretry_for=(OSError,), retry_backoff=5, max_retries=5)
def send_order_email(order_id: str, kind: str) -> None:
    services.send_order_email(order_id=order_id, kind=kind)


@shared_task(name="orders.cancel_unpaid_orders")
def cancel_unpaid_orders() -> int:
    return services.cancel_unpaid_orders()


@shared_task(name="orders.resume_stalled_orders")
def resume_stalled_orders() -> int:
    return services.resume_stalled_orders()


@shared_task(name="orders.prune_idempotency_keys")
def prune_idempotency_keys() -> int:
    return services.prune_idempotency_keys()
