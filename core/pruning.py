"""Retention: old rows deleted a batch at a time."""

from django.conf import settings
from django.db.models import QuerySet


def delete_in_batches(rows: QuerySet, *, batch_size: int | None = None) -> int:
    """Delete `rows` PRUNE_BATCH_SIZE at a time, each batch a short statement of its own (with its
    cascades), so pruning a large backlog never holds long locks nor loads it all. Returns how many
    rows of `rows` were deleted."""
    batch_size = batch_size or settings.PRUNE_BATCH_SIZE
    deleted = 0
    while ids := list(rows.order_by().values_list("pk", flat=True)[:batch_size]):
        rows.model.objects.filter(pk__in=ids).delete()
        deleted += len(ids)
        if len(ids) < batch_size:
            break
    return deleted
