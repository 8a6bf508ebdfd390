import json
import logging
import signal
import time
import uuid

from amqp.exceptions import AMQPError
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from kombu import Consumer
from kombu.exceptions import OperationalError

from events.bus import rabbitmq as bus
from warehouse import services

logger = logging.getLogger("warehouse")

RETRY_PAUSE = 5  # seconds before an order whose shipping failed (the database, say) is tried again


class Command(BaseCommand):
    help = (
        "The store's fulfilment consumer: reads order.completed from its durable queue on the event bus, "
        "picks each order (WAREHOUSE_PICK_SECONDS), ships it and only then acknowledges it."
    )

    def handle(self, *args, **options):
        if not bus.enabled():
            raise CommandError("There is no event bus: set EVENT_BUS_URL (e.g. amqp://guest:guest@127.0.0.1:5672//).")
        signal.signal(signal.SIGTERM, signal.default_int_handler)  # stop as on Ctrl-C
        queue = bus.durable_queue(settings.WAREHOUSE_QUEUE)
        try:
            with bus.connection(heartbeat=30) as connection:
                connection.connect()
                channel = connection.channel()
                bus.declare(channel)
                channel.basic_qos(prefetch_size=0, prefetch_count=1, a_global=False)  # one order at a time
                with Consumer(channel, queues=[queue], callbacks=[self.on_message], no_ack=False):
                    self.stdout.write(
                        self.style.SUCCESS(
                            f"Warehouse ready: shipping completed orders from {queue.name}; Ctrl-C to stop."
                        )
                    )
                    bus.serve(connection)
        except KeyboardInterrupt:
            self.stdout.write("Warehouse stopped; unacknowledged orders go back to the queue.")
        except (OSError, OperationalError, AMQPError) as error:
            raise CommandError(f"The event bus does not answer ({error}): is RabbitMQ running?") from error

    def on_message(self, body, message) -> None:
        """Acknowledge only once the order has shipped (or needs no shipping): a warehouse killed
        mid-pick leaves the message to be delivered again, and the order ships once."""
        try:
            order_id = uuid.UUID(json.loads(message.body)["data"]["order"]["id"])
        except (ValueError, KeyError, TypeError):
            logger.error("not an order event, dropped: %s", message.properties.get("message_id"))
            message.reject()
            return
        try:
            self._fulfil(order_id)
        except Exception:
            logger.exception("order %s could not be shipped: back to the queue", order_id)
            message.requeue()
            time.sleep(RETRY_PAUSE)
            return
        message.ack()

    def _fulfil(self, order_id: uuid.UUID) -> None:
        if not services.awaits_shipping(order_id=order_id):
            self.stdout.write(f"order {order_id}: not waiting to ship (shipped, cancelled or unknown); acknowledged")
            return
        self.stdout.write(f"order {order_id}: picking…")
        time.sleep(settings.WAREHOUSE_PICK_SECONDS)
        if services.ship_picked_order(order_id=order_id):
            self.stdout.write(self.style.SUCCESS(f"order {order_id}: shipped"))
        else:
            self.stdout.write(f"order {order_id}: shipped or cancelled while it was picked; acknowledged")
