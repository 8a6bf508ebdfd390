"""Payment gateways. The one in use is named by the PAYMENT_GATEWAY setting (a dotted path)."""

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Protocol

from django.conf import settings
from django.core.cache import caches
from django.utils.module_loading import import_string


class PaymentDeclined(Exception):
    """The gateway refused the charge for good."""


class PaymentTemporarilyFailed(Exception):
    """The gateway could not answer now; the same charge may be tried again."""


class PaymentGateway(Protocol):
    """A gateway gives up on a call after a deadline of its own (seconds, as Stripe's client does)
    and raises `PaymentTemporarilyFailed`: a hung gateway costs one attempt, never a worker."""

    def charge(self, *, amount: Decimal, currency: str, token: str, idempotency_key: str) -> str:
        """Capture `amount` and return the charge id. The same idempotency key never charges twice."""

    def refund(self, *, charge_id: str, idempotency_key: str) -> str:
        """Refund (or void, if not yet settled) a charge in full and return the refund id."""

    def find_charge(self, *, idempotency_key: str) -> str | None:
        """The charge made with this idempotency key, if any: how a charge whose outcome we never
        recorded (a crash, a timeout after the gateway charged) is found again."""


class TestGateway:
    """Behaves like Stripe's test cards: `tok_visa` succeeds, `tok_chargeDeclined` is declined,
    `tok_processingError` fails twice and then succeeds.

    Its ledger lives in the shared cache (Redis), as a real gateway's would live on its side, so
    that every worker process sees the same charges and attempts.
    """

    TRANSIENT_FAILURES = 2
    LEDGER_TTL = 7 * 24 * 3600

    def __init__(self):
        self.ledger = caches["default"]

    def charge(self, *, amount: Decimal, currency: str, token: str, idempotency_key: str) -> str:
        with _unanswered_is_temporary():
            return self._charge(amount=amount, currency=currency, token=token, idempotency_key=idempotency_key)

    def _charge(self, *, amount: Decimal, currency: str, token: str, idempotency_key: str) -> str:
        charge_key = self.charge_key(idempotency_key)
        if existing := self.ledger.get(charge_key):
            return existing
        if token == "tok_chargeDeclined":
            raise PaymentDeclined("Your card was declined.")
        if token == "tok_processingError":
            if self._count(f"test-gateway:attempts:{idempotency_key}") <= self.TRANSIENT_FAILURES:
                raise PaymentTemporarilyFailed("An error occurred while processing your card.")
        elif token != "tok_visa":
            raise PaymentDeclined(
                f"Unknown test token {token!r}; use tok_visa, tok_chargeDeclined or tok_processingError."
            )
        charge_id = f"ch_test_{uuid.uuid4().hex[:24]}"
        if not self.ledger.add(charge_key, charge_id, self.LEDGER_TTL):
            return self.ledger.get(charge_key)  # a concurrent attempt with the same key won
        return charge_id

    @staticmethod
    def charge_key(idempotency_key: str) -> str:
        """Where the ledger keeps the one charge made with this key."""
        return f"test-gateway:charge:{idempotency_key}"

    def _count(self, key: str) -> int:
        self.ledger.add(key, 0, self.LEDGER_TTL)
        return self.ledger.incr(key)

    def find_charge(self, *, idempotency_key: str) -> str | None:
        with _unanswered_is_temporary():
            return self.ledger.get(self.charge_key(idempotency_key))

    def refund(self, *, charge_id: str, idempotency_key: str) -> str:
        refund_key = f"test-gateway:refund:{idempotency_key}"
        with _unanswered_is_temporary():
            self.ledger.add(refund_key, f"re_test_{uuid.uuid4().hex[:24]}", self.LEDGER_TTL)
            return self.ledger.get(refund_key)


@contextmanager
def _unanswered_is_temporary() -> Iterator[None]:
    """The ledger (Redis) timed out or is away: the test gateway answers as a gateway that did."""
    try:
        yield
    except (PaymentDeclined, PaymentTemporarilyFailed):
        raise
    except Exception as error:
        raise PaymentTemporarilyFailed(f"The gateway did not answer: {error}") from error


def get_gateway() -> PaymentGateway:
    return import_string(settings.PAYMENT_GATEWAY)()
