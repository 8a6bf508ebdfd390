import uuid

from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_datetime
from tqdm import tqdm

from webhooks import services
from webhooks.models import Delivery
from webhooks.selectors import deliveries_matching

BATCH = 200


def moment(value: str):
    parsed = parse_datetime(value)
    if parsed is None or parsed.tzinfo is None:
        raise CommandError(f"{value!r} is not an RFC 3339 time with a zone, e.g. 2026-11-26T10:00:00Z.")
    return parsed


def an_id(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError as error:
        raise CommandError(f"{value!r} is not an id.") from error


class Command(BaseCommand):
    help = (
        "Send webhook deliveries again through the normal path (signed, logged, retried). "
        "By default every failed delivery; narrow it with the filters."
    )

    def add_arguments(self, parser):
        parser.add_argument("--delivery", nargs="+", type=an_id, metavar="ID", help="These deliveries.")
        parser.add_argument("--event", type=an_id, metavar="ID", help="Deliveries of this event.")
        parser.add_argument("--endpoint", type=an_id, metavar="ID", help="Deliveries to this endpoint.")
        parser.add_argument("--type", metavar="TYPE", help="Deliveries of events of this type.")
        parser.add_argument("--status", choices=["failed", "succeeded", "all"], default="failed")
        parser.add_argument("--since", type=moment, help="Created at or after (RFC 3339).")
        parser.add_argument("--until", type=moment, help="Created before (RFC 3339).")
        parser.add_argument("--dry-run", action="store_true", help="Show what would be sent; send nothing.")

    def handle(self, *args, **options):
        deliveries = deliveries_matching(
            delivery_ids=options["delivery"],
            event_id=options["event"],
            endpoint_id=options["endpoint"],
            event_type=options["type"],
            status=None if options["status"] == "all" else options["status"],
            since=options["since"],
            until=options["until"],
        )
        ids = list(deliveries.values_list("id", flat=True))
        for delivery in deliveries[:20]:
            self.stdout.write(
                f"  {delivery.id}  {delivery.status:<9}  {delivery.event.type:<22}  {delivery.endpoint.url}"
            )
        if len(ids) > 20:
            self.stdout.write(f"  … and {len(ids) - 20} more")
        if options["dry_run"]:
            self.stdout.write(f"Dry run: {len(ids)} deliveries would be sent again. Nothing was sent.")
            return
        queued = 0
        with tqdm(total=len(ids), unit="delivery", desc="Queuing", file=self.stderr._out) as progress:
            for start in range(0, len(ids), BATCH):
                batch = ids[start : start + BATCH]
                queued += services.resend_deliveries(Delivery.objects.filter(id__in=batch))
                progress.update(len(batch))
        self.stdout.write(
            self.style.SUCCESS(
                f"Queued {queued} of {len(ids)} deliveries; follow them with "
                "GET /v1/webhooks/{id}/deliveries or in the admin."
            )
        )
