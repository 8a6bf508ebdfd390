from django.dispatch import Signal

# Sent once an event's transaction has committed; `events.receivers` hands the event on, by one of
# the two dispatch routes described there.
event_recorded = Signal()

# Sent by the dispatcher after the event's transaction has committed; receivers (orders, webhooks)
# start the work that consumes it. Receivers must be idempotent: the relay may dispatch an event
# twice.
event_published = Signal()
