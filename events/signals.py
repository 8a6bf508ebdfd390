from django.dispatch import Signal

# Sent by the dispatcher in a worker, after the event's transaction has committed; receivers
# (orders, webhooks) enqueue the tasks that consume it. Receivers must be idempotent: the relay
# may dispatch an event twice.
event_published = Signal()
