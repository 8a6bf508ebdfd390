import json
import signal

from amqp.exceptions import AMQPError
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from kombu import Consumer, Queue, binding
from kombu.exceptions import OperationalError

from events.bus import rabbitmq as bus


class Command(BaseCommand):
    help = (
        "Print the events published to the event bus as they arrive, like `webhooks_listen` for "
        "webhooks: its own exclusive queue, bound with each PATTERN (`order.*`, `#` for all)."
    )

    def add_arguments(self, parser):
        parser.add_argument("patterns", nargs="+", metavar="PATTERN", help="AMQP topic patterns: order.*, #…")
        parser.add_argument("--full", action="store_true", help="Print each event's whole envelope.")

    def handle(self, *args, patterns, full, **options):
        if not bus.enabled():
            raise CommandError("There is no event bus: set EVENT_BUS_URL (e.g. amqp://guest:guest@127.0.0.1:5672//).")
        # Exclusive: the server names it and deletes it when this command's connection ends.
        queue = Queue(
            "",
            exchange=bus.exchange(),
            bindings=[binding(bus.exchange(), routing_key=pattern) for pattern in patterns],
            exclusive=True,
            auto_delete=True,
        )
        signal.signal(signal.SIGTERM, signal.default_int_handler)  # stop as on Ctrl-C
        try:
            with bus.connection(heartbeat=30) as connection:
                connection.connect()
                channel = connection.channel()
                bus.declare(channel)
                with Consumer(channel, queues=[queue], callbacks=[self._printer(full)], no_ack=True):
                    ready = f"Ready. Consuming {', '.join(patterns)} from {settings.EVENT_BUS_EXCHANGE}; Ctrl-C stops."
                    self.stdout.write(self.style.SUCCESS(ready))
                    bus.serve(connection)
        except KeyboardInterrupt:
            self.stdout.write("Bye.")
        except (OSError, OperationalError, AMQPError) as error:
            raise CommandError(f"The event bus does not answer ({error}): is RabbitMQ running?") from error

    def _printer(self, full: bool):
        def on_message(body, message) -> None:
            envelope = json.loads(message.body)
            self.stdout.write(f"{envelope['timestamp']}  {envelope['type']:<22} {message.properties['message_id']}")
            if full:
                self.stdout.write(json.dumps(envelope, indent=2))

        return on_message
