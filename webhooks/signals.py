from django.dispatch import Signal

# Sent when endpoints were written other than by a save or a delete (a queryset's `update`,
# `bulk_create`): with post_save and post_delete, `webhooks.receivers` renews the subscriptions.
# A signal because the model sits below the subscriptions it would otherwise have to import.
endpoints_changed = Signal()
