"""Signing, against the specification's vector and the reference `standardwebhooks` verifier."""

import json
import time

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from webhooks.pipeline import signing


def test_signature_matches_the_specifications_vector():
    assert (
        signing.sign(
            secret="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            msg_id="msg_p5jXN8AQM9LWM0D4loKWxJek",
            timestamp=1614265330,
            body=b'{"test": 2432232314}',
        )
        == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    )


def test_the_reference_library_verifies_our_signature_with_either_live_secret():
    old, new = signing.new_secret(), signing.new_secret()
    body = json.dumps({"id": "evt_1", "type": "webhook.test"}).encode()
    now = int(time.time())
    headers = {
        "webhook-id": "evt_1",
        "webhook-timestamp": str(now),
        "webhook-signature": signing.signature_header(secrets=[new, old], msg_id="evt_1", timestamp=now, body=body),
    }
    assert Webhook(new).verify(body, headers)["type"] == "webhook.test"
    assert Webhook(old).verify(body, headers)["type"] == "webhook.test"
    with pytest.raises(WebhookVerificationError):
        Webhook(signing.new_secret()).verify(body, headers)


def test_new_secrets_are_whsec_base64_of_24_random_bytes():
    secret = signing.new_secret()
    assert secret.startswith("whsec_")
    assert len(secret) == len("whsec_") + 32
    assert secret != signing.new_secret()
