from django.dispatch import Signal

# Sent after a transaction that made deliveries ready to send has committed (`delivery_ids`);
# `webhooks.receivers` hands them to the queue. Services announce; only the receivers know tasks.
deliveries_ready = Signal()

# Sent when endpoints were written other than by a save or a delete (a queryset's `update`,
# `bulk_create`): with post_save and post_delete, `webhooks.receivers` renews the subscriptions.
endpoints_changed = Signal()
