from celery import shared_task

from portal import services


@shared_task(name="portal.prune_links")
def prune_links() -> int:
    return services.prune_links()
