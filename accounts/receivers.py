"""Whatever changes a key or its user (the admin, a command, a service) makes every process
forget what it cached of the key (`accounts.services.user_for_key`), before and after commit; a
saved user claims its username (`accounts.models.UsernameClaim`)."""

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from accounts.models import ApiKey
from accounts.services import claim_username, forget_keys


@receiver([post_save, post_delete], sender=ApiKey)
def key_changed(sender, instance: ApiKey, created: bool = False, **kwargs) -> None:
    if not created:
        _forget_now_and_on_commit([instance.key_hash])


@receiver([post_save, post_delete], sender=User)
def user_changed(sender, instance: User, created: bool = False, **kwargs) -> None:
    if not created:
        _forget_now_and_on_commit(list(ApiKey.objects.filter(user_id=instance.pk).values_list("key_hash", flat=True)))


@receiver(post_save, sender=User)
def username_saved(sender, instance: User, update_fields=None, **kwargs) -> None:
    # In the saver's transaction (registration, the admin, the command are atomic): a name that
    # another account holds makes the save fail with it.
    if update_fields is None or "username" in update_fields:
        claim_username(user=instance)


def _forget_now_and_on_commit(key_hashes: list[str]) -> None:
    # Now: requests starting from here on read the database. On commit: a request that read the
    # old row in between must not have cached it for long.
    if key_hashes:
        forget_keys(key_hashes)
        transaction.on_commit(lambda: forget_keys(key_hashes))
