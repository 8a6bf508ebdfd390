from django.dispatch import Signal

# Sent once the transaction that recorded `events` outside a worker has committed;
# `events.receivers` queues them to be dispatched (the two routes: `events.services`).
events_recorded = Signal()

# Sent with the `events` being dispatched; receivers (orders, webhooks) start the work that
# consumes them. In a worker this happens inside the transaction that records them, so receivers
# start anything that leaves the database (a task, a request) with `transaction.on_commit`.
# Receivers must be idempotent: the relay may dispatch an event twice.
events_published = Signal()
