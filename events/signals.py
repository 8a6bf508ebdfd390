from django.dispatch import Signal

# Sent with the `events` being dispatched; receivers (orders, webhooks) start the work that
# consumes them, in the worker that dispatches them (`events.outbox.dispatch.dispatch`). On the route
# "here" this happens inside the transaction that records them, so receivers start anything that
# leaves the database (a task, a request) with `transaction.on_commit`.
# Receivers must be idempotent: the relay may dispatch an event twice.
events_published = Signal()
