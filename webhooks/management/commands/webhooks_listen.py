import json
import signal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from django.conf import settings
from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError
from standardwebhooks import Webhook, WebhookVerificationError

from webhooks import services

LISTENER_USERNAME = "webhooks-listen"


class Command(BaseCommand):
    help = (
        "Like `stripe listen`: run a local receiver, subscribe it, verify each delivery's signature "
        "and print the events as they arrive. The subscription is removed on exit."
    )

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=9000)
        parser.add_argument("--events", nargs="+", default=["*"], help='Event types or "prefix.*" (default: all).')
        parser.add_argument("--user", help="Only this customer's events (default: every customer's).")
        parser.add_argument("--full", action="store_true", help="Print each event's whole body.")

    def handle(self, *args, port, events, user, full, **options):
        if not settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS:
            raise CommandError(
                "Set WEBHOOKS_ALLOW_PRIVATE_TARGETS=1 for this command and the worker: "
                "webhooks to 127.0.0.1 are refused otherwise."
            )
        owner = self._owner(user)
        try:
            server = ThreadingHTTPServer(("127.0.0.1", port), self._handler_class(full))
        except OSError as error:
            raise CommandError(f"Cannot listen on 127.0.0.1:{port} ({error.strerror}); try --port.") from error
        endpoint = services.create_endpoint(
            owner=owner,
            url=f"http://127.0.0.1:{port}/",
            event_types=events,
            description="webhooks_listen",
            all_customers=user is None,
        )
        server.verifier = Webhook(endpoint.secret)
        signal.signal(signal.SIGTERM, signal.default_int_handler)  # stop as on Ctrl-C, unsubscribing
        self.stdout.write(
            self.style.SUCCESS(
                f"Ready. Listening on http://127.0.0.1:{port}/ for {', '.join(events)} "
                f"({'customer ' + user if user else 'every customer'}). Endpoint {endpoint.id}; Ctrl-C to stop."
            )
        )
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
            endpoint.delete()
            self.stdout.write("Unsubscribed; bye.")

    def _owner(self, username: str | None) -> User:
        if username:
            owner = User.objects.filter(username=username).first()
            if owner is None:
                raise CommandError(f"No user {username!r}.")
            return owner
        owner, _ = User.objects.get_or_create(username=LISTENER_USERNAME, defaults={"is_staff": True})
        return owner

    def _handler_class(self, full: bool):
        command = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                try:
                    event = self.server.verifier.verify(body, dict(self.headers))
                except WebhookVerificationError as error:
                    self.send_response(400)
                    self.end_headers()
                    command.stdout.write(command.style.ERROR(f"✗ signature check failed: {error}"))
                    return
                self.send_response(204)
                self.end_headers()
                command.stdout.write(f"{event['timestamp']}  ✓ {event['type']:<22} {self.headers['webhook-id']}")
                if full:
                    command.stdout.write(json.dumps(event, indent=2))

            def log_message(self, *args):
                pass

        return Handler
