from django.dispatch import Signal

# Sent after a transaction that made deliveries ready to send has committed (`delivery_ids`);
# `webhooks.receivers` hands them to the queue. Services announce; only the receivers know tasks.
deliveries_ready = Signal()
