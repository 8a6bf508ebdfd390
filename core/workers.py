"""What code needs to know about the Celery worker it may be running in."""

from celery import current_task


def in_task() -> bool:
    """Whether the caller runs inside a Celery task, so already in the background."""
    return bool(current_task and current_task.request.id)
