"""The schema and the API agree on every rule: schemathesis generates requests from the served
OpenAPI schema, valid and invalid (positive and negative data), per operation and as stateful
sequences that follow the schema's links, and runs every check it has on every response: no 5xx,
status codes, content types, headers and bodies as documented, invalid data refused, valid data
accepted, a missing key refused, a deleted resource gone."""

from decimal import Decimal

import pytest
import redis
import schemathesis
from django.conf import settings as django_settings
from django.contrib.auth.models import User
from django.core.management import call_command
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import CHECKS, load_all_checks
from schemathesis.config._checks import POSITIVE_DATA_ACCEPTANCE_EXPECTED_STATUSES
from schemathesis.generation.stateful import run_state_machine_as_test

from accounts.services import issue_api_key
from inventory.services import create_pet
from petstore.wsgi import application
from tests.conftest import assert_events_match_the_catalog

pytestmark = pytest.mark.redis  # every sequence starts from an empty Redis; the limits it meets live there

load_all_checks()
EVERY_CHECK = list(CHECKS.get_all())


def accepted_besides(*statuses: str) -> dict:
    return {"positive_data_acceptance": {"expected-statuses": [*POSITIVE_DATA_ACCEPTANCE_EXPECTED_STATUSES, *statuses]}}


# Valid by the schema, refused by rules a schema cannot state: those answers are allowed for
# valid data too, on these operations only.
CONFIG = schemathesis.Config.from_dict(
    {
        "operations": [
            # Django's password validators; a username already taken.
            {"include-operation-id": "register_user", "checks": accepted_besides("400")},
            # A pet that does not exist (400 unknown-pet); mixed currencies or a total too large (422).
            {"include-operation-id": "orders_create", "checks": accepted_besides("400", "422")},
            # The target URL must resolve to an address the sender may reach (DNS, at save time).
            {"include-operation-id": "webhooks_create", "checks": accepted_besides("400")},
            {"include-operation-id": "webhooks_partial_update", "checks": accepted_besides("400")},
            # A cursor is opaque: any string is valid by the schema, and one the API did not give is
            # a 400 (tests/api/test_schema_agreement.py pins the lists' other parameters).
            {"include-operation-id-regex": "(_list|^list_api_keys)$", "checks": accepted_besides("400")},
        ]
    }
)
# The event stream answers forever (and needs the ASGI side): tests/events/test_event_stream.py covers it.
schema = schemathesis.openapi.from_wsgi("/v1/schema?format=json", application, config=CONFIG).exclude(
    operation_id="events_stream"
)

COMMON_SETTINGS = {
    "deadline": None,
    "derandomize": True,
    "database": None,
    "suppress_health_check": list(HealthCheck),
    "phases": [Phase.explicit, Phase.generate],  # a failure is reported as found, not shrunk
}


@schema.auth(refresh_interval=None)  # each test has a key of its own
class StaffKey:
    """Every request carries a staff key, except those generated without one on purpose."""

    key = ""

    def get(self, case, context) -> str:
        return self.key

    def set(self, case, data, context) -> None:
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


@pytest.fixture(autouse=True)
def staff_key(make_customer):
    StaffKey.key = make_customer(staff=True).key


@pytest.fixture(autouse=True)
def wrong_keys_unlimited(settings):
    """Schemathesis sends a wrong key to every operation and expects a 401 (ST401), not the 429
    that guessing keys earns past API_KEY_FAILURE_LIMIT (tested on its own, test_accounts_api)."""
    settings.API_KEY_FAILURE_LIMIT = 10**9


@pytest.mark.django_db(transaction=True)  # the WSGI handler closes connections after each request
@schema.parametrize()
@settings(max_examples=25, **COMMON_SETTINGS)
def test_every_operation_answers_within_its_schema(case, pet):
    case.call_and_validate(checks=EVERY_CHECK)


def start_afresh() -> None:
    """Hypothesis builds a sequence by replaying the start of an earlier one, and expects the same
    answers to it (else: "Inconsistent data generation"). So every sequence starts from the same
    state: the database and the cache (API keys, rate limits) emptied, one staff key and one pet.
    Without it, a username registered in one sequence is taken in the next, and what was a 201
    (and the link it leads to) is a 400."""
    assert_events_match_the_catalog()  # the events of the sequence before, before they are gone
    call_command("flush", interactive=False, verbosity=0, inhibit_post_migrate=True)
    redis.Redis.from_url(django_settings.CACHES["default"]["LOCATION"]).flushdb()
    staff = User.objects.create_user(username="staff", email="staff@example.com", is_staff=True)
    StaffKey.key = issue_api_key(user=staff)
    create_pet(name="Rex", species="dog", price=Decimal("125.50"), stock=5, low_stock_threshold=2)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_sequences_along_the_schemas_links_answer_within_it():
    class Sequences(schema.as_state_machine()):
        def setup(self):
            start_afresh()

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            case.validate_response(
                response, checks=EVERY_CHECK, transport_kwargs=kwargs or None, recorder=self.recorder
            )

    run_state_machine_as_test(Sequences, settings=settings(max_examples=40, stateful_step_count=6, **COMMON_SETTINGS))
