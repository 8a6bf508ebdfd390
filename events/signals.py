from django.dispatch import Signal

# Sent once the transaction that recorded `events` has committed; `events.receivers` hands them
# on, by one of the two dispatch routes described there.
events_recorded = Signal()

# Sent by the dispatcher with the `events` it hands on, after their transaction has committed;
# receivers (orders, webhooks) start the work that consumes them. Receivers must be idempotent:
# the relay may dispatch an event twice.
events_published = Signal()
