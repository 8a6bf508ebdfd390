from django.contrib.auth.models import User
from django.db.models import QuerySet

from events.models import Event


def events_visible_to(user: User) -> QuerySet[Event]:
    return Event.objects.filter(owner=user)
