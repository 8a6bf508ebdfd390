"""The customer portal through a browser's requests (Django's test client): links that open once,
sessions that end with the key that made them, one customer's objects only, and pages that
escape what customers and receivers wrote, under a Content-Security-Policy."""

import io
import os
import re
import subprocess
import sys
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.core.management import CommandError, call_command
from django.http import QueryDict
from django.test import Client
from django.utils import timezone

from accounts.models import ApiKey
from events.catalog.schemas import event_types
from events.models import Event
from portal import forms
from portal.authentication import COOKIE
from portal.models import PortalLink
from portal.services import prune_links
from tests.conftest import ROOT
from webhooks import services
from webhooks.models import Attempt, Delivery, DeliveryStatus, Endpoint
from webhooks.views import WebhookTestRateThrottle

pytestmark = pytest.mark.django_db

URL = "http://127.0.0.1:9/hook"  # tests allow local targets; nothing is sent in these tests
HOSTILE = "<script>alert('owned')</script><img src=x onerror=alert(1)>"


def make_link(who, **body) -> str:
    response = who.client.post("/v1/portal/links", body, format="json")
    assert response.status_code == 201, response.content
    return response.json()["url"]


def path_of(url: str) -> str:
    return "/" + url.split("://", 1)[1].split("/", 1)[1]


def browser_for(who, **body) -> Client:
    """A browser (with CSRF checks, as a real one gets) that opened a fresh link of `who`'s."""
    browser = Client(enforce_csrf_checks=True)
    opened = browser.get(path_of(make_link(who, **body)))
    assert opened.status_code == 302 and opened["Location"] == "/portal/", opened.content
    return browser


def csrf_post(browser: Client, path: str, data: dict | None = None, **headers):
    """A form post as the page sends it: with the CSRF token from the page's cookie."""
    browser.get("/portal/")  # the page sets the CSRF cookie
    token = browser.cookies["csrftoken"].value
    body = urlencode({"csrfmiddlewaretoken": token, **(data or {})}, doseq=True)
    return browser.post(path, body, content_type="application/x-www-form-urlencoded", **headers)


# --- Links -------------------------------------------------------------------------------


def test_a_link_opens_the_customers_portal_once_with_a_strict_cookie(customer):
    response = customer.client.post("/v1/portal/links", {"ttl_seconds": 120}, format="json")
    assert response.status_code == 201
    body = response.json()
    assert body["url"].startswith("http://testserver/portal/enter/")
    expires_at = timezone.datetime.fromisoformat(body["expires_at"])
    assert timedelta(seconds=100) < expires_at - timezone.now() <= timedelta(seconds=120)

    browser = Client()
    opened = browser.get(path_of(body["url"]))
    assert opened.status_code == 302
    cookie = opened.cookies[COOKIE]
    assert cookie["httponly"] and cookie["samesite"] == "Lax" and cookie["secure"]  # DEBUG is off
    assert cookie["path"] == "/portal/"
    page = browser.get("/portal/")
    assert page.status_code == 200 and customer.user.username in page.content.decode()

    again = Client().get(path_of(body["url"]))
    assert again.status_code == 403
    assert "does not open" in again.content.decode() and "used already" in again.content.decode()
    assert COOKIE not in again.cookies


@pytest.mark.parametrize(
    "headers",
    [
        {"HTTP_USER_AGENT": "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)"},
        {"HTTP_USER_AGENT": "Mozilla/5.0 (Windows NT 6.1; WOW64) SkypeUriPreview Preview/0.5"},  # Teams
        {"HTTP_USER_AGENT": "facebookexternalhit/1.1 Facebot Twitterbot/1.0"},  # Apple's Messages
        {"HTTP_USER_AGENT": "WhatsApp/2.23.20.0 A"},
        {"HTTP_USER_AGENT": "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)"},
        {"HTTP_SEC_PURPOSE": "prefetch;prerender"},
    ],
)
def test_a_preview_of_a_link_leaves_it_for_its_customer(customer, headers):
    link = path_of(make_link(customer))

    preview = Client().get(link, **headers)

    assert preview.status_code == 200 and COOKIE not in preview.cookies
    assert "this preview did not use it" in preview.content.decode()
    assert preview["Cache-Control"] == "no-store"
    opened = Client().get(link, HTTP_USER_AGENT="Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0 Safari/537.36")
    assert opened.status_code == 302 and COOKIE in opened.cookies


def test_the_cookie_is_secure_outside_debug_only(customer, settings):
    settings.DEBUG = True
    opened = Client().get(path_of(make_link(customer)))
    assert opened.status_code == 302 and not opened.cookies[COOKIE]["secure"]


def test_an_expired_link_is_a_403(customer):
    url = make_link(customer)
    PortalLink.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    response = Client().get(path_of(url))
    assert response.status_code == 403 and COOKIE not in response.cookies
    assert response["Content-Type"].startswith("text/html")


@pytest.mark.parametrize("alter", [lambda token: token[:-1] + ("A" if token[-1] != "A" else "B"), lambda token: "x"])
def test_an_altered_link_is_a_403(customer, alter):
    url = make_link(customer)
    token = url.rsplit("/", 1)[1]
    response = Client().get(f"/portal/enter/{alter(token)}")
    assert response.status_code == 403 and "altered" in response.content.decode()
    assert PortalLink.objects.get().opened_at is None  # the real link still opens
    assert Client().get(path_of(url)).status_code == 302


def test_a_session_cookie_is_not_a_link_and_a_link_is_not_a_session(customer):
    url = make_link(customer)
    token = url.rsplit("/", 1)[1]
    browser = Client()
    browser.cookies[COOKIE] = token  # the link's token as a cookie: signed for another use
    assert browser.get("/portal/").status_code == 403
    opened = Client()
    opened.get(path_of(url))
    assert Client().get(f"/portal/enter/{opened.cookies[COOKIE].value}").status_code == 403


@pytest.mark.parametrize("ttl", [0, 86_401, "600", 1.5, None])
def test_a_link_lives_one_second_to_one_day(customer, ttl):
    response = customer.client.post("/v1/portal/links", {"ttl_seconds": ttl}, format="json")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert "ttl_seconds" in response.json()["errors"]


def test_staff_make_a_link_scoped_to_one_customer_and_customers_cannot(customer, staff, make_customer):
    services.create_endpoint(owner=customer.user, url=URL + "/customer", event_types=["*"])
    services.create_endpoint(owner=staff.user, url=URL + "/staff", event_types=["*"])
    browser = browser_for(staff, customer=customer.user.username)
    page = browser.get("/portal/").content.decode()
    assert URL + "/customer" in page and URL + "/staff" not in page
    assert customer.user.username in page

    other = make_customer()
    refused = other.client.post("/v1/portal/links", {"customer": customer.user.username}, format="json")
    assert refused.status_code == 403
    unknown = staff.client.post("/v1/portal/links", {"customer": "nobody-at-all"}, format="json")
    assert unknown.status_code == 404 and "No active customer" in unknown.json()["detail"]


def test_the_link_api_needs_a_key(client):
    assert client.post("/v1/portal/links", {}, content_type="application/json").status_code == 401


# --- Sessions that end -------------------------------------------------------------------


def test_revoking_the_key_that_made_the_link_ends_the_session(customer):
    browser = browser_for(customer)
    assert browser.get("/portal/").status_code == 200
    key_id = ApiKey.objects.get(user=customer.user).id
    assert customer.client.delete(f"/v1/auth/tokens/{key_id}").status_code == 204
    ended = browser.get("/portal/")
    assert ended.status_code == 403 and "session has ended" in ended.content.decode()
    assert browser.get("/portal/events/stream", HTTP_ACCEPT="text/event-stream").status_code == 403


def test_a_link_whose_key_was_revoked_does_not_open(customer):
    url = make_link(customer)
    ApiKey.objects.filter(user=customer.user).update(revoked_at=timezone.now())
    refused = Client().get(path_of(url))
    assert refused.status_code == 403 and COOKIE not in refused.cookies


def test_deactivating_the_customer_ends_the_session(customer):
    browser = browser_for(customer)
    customer.user.is_active = False
    customer.user.save()
    assert browser.get("/portal/").status_code == 403


def test_a_link_made_by_staff_ends_when_they_lose_staff_or_their_key(customer, staff):
    browser = browser_for(staff, customer=customer.user.username)
    assert browser.get("/portal/").status_code == 200
    staff.user.is_staff = False
    staff.user.save()
    assert browser.get("/portal/").status_code == 403


def test_signing_out_ends_the_session(customer):
    browser = browser_for(customer)
    assert csrf_post(browser, "/portal/sign-out").status_code == 200
    assert browser.get("/portal/").status_code == 403


def test_a_session_ends_after_its_lifetime(customer):
    browser = browser_for(customer)
    PortalLink.objects.update(session_expires_at=timezone.now() - timedelta(seconds=1))
    assert browser.get("/portal/").status_code == 403


# --- One customer's objects only ---------------------------------------------------------


def test_another_customers_ids_are_404s(customer, make_customer):
    other = make_customer()
    theirs = services.create_endpoint(owner=other.user, url=URL, event_types=["*"])
    their_delivery = services.send_test_event(endpoint=theirs)
    mine = services.create_endpoint(owner=customer.user, url=URL, event_types=["*"])
    browser = browser_for(customer)
    for path in ("", "/edit", "/delete", "/deliveries", "/health"):
        assert browser.get(f"/portal/endpoints/{theirs.id}{path}").status_code == 404, path
    for path in ("/test", "/disable", "/rotate-secret", "/delete", f"/deliveries/{their_delivery.id}/resend"):
        assert csrf_post(browser, f"/portal/endpoints/{theirs.id}{path}").status_code == 404, path
    # their delivery under my endpoint's id
    assert csrf_post(browser, f"/portal/endpoints/{mine.id}/deliveries/{their_delivery.id}/resend").status_code == 404
    theirs.refresh_from_db()
    assert theirs.is_active and Endpoint.objects.filter(id=theirs.id).exists()
    assert Delivery.objects.filter(endpoint=theirs).count() == 1


def test_every_form_needs_its_csrf_token(customer):
    endpoint = services.create_endpoint(owner=customer.user, url=URL, event_types=["*"])
    browser = browser_for(customer)
    for path in (
        f"/portal/endpoints/{endpoint.id}/disable",
        f"/portal/endpoints/{endpoint.id}/delete",
        "/portal/endpoints/new",
    ):
        form = urlencode({"url": URL, "events": "*"})
        assert browser.post(path, form, content_type="application/x-www-form-urlencoded").status_code == 403, path
    endpoint.refresh_from_db()
    assert endpoint.is_active and Endpoint.objects.count() == 1
    page = browser.get(f"/portal/endpoints/{endpoint.id}").content.decode()
    assert page.count('name="csrfmiddlewaretoken"') == page.count("<form")


# --- Page security -----------------------------------------------------------------------


def test_pages_send_a_csp_without_inline_script_and_refuse_framing_by_default(customer):
    browser = browser_for(customer)
    for path in ("/portal/", "/portal/events/catalog", "/portal/events/live", "/portal/enter/bad"):
        response = browser.get(path)
        policy = response["Content-Security-Policy"]
        directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
        assert directives["script-src"] == "'self'", path
        assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
        assert directives["frame-ancestors"] == "'none'"
        assert response["X-Frame-Options"] == "DENY"
        assert "<script>" not in response.content.decode()  # no inline script to allow


def test_framing_follows_portal_frame_ancestors(customer, settings):
    settings.PORTAL_FRAME_ANCESTORS = ["https://app.example.com", "https://*.shop.example"]
    response = browser_for(customer).get("/portal/")
    assert "frame-ancestors https://app.example.com https://*.shop.example" in response["Content-Security-Policy"]
    assert "X-Frame-Options" not in response  # it could only contradict frame-ancestors
    assert Client().get("/admin/login/")["X-Frame-Options"] == "DENY"  # the rest of the site is unchanged


@pytest.mark.parametrize(("debug", "refused"), [("0", True), ("1", False)], ids=["outside DEBUG", "with DEBUG"])
def test_a_framing_origin_served_over_plain_http_is_refused_outside_debug(debug, refused):
    env = {**os.environ, "DEBUG": debug, "PORTAL_FRAME_ANCESTORS": "https://app.example.com,http://shop.example"}
    env["SECRET_KEY"] = "k" * 50
    started = subprocess.run([sys.executable, "-c", "import petstore.settings"], cwd=ROOT, env=env, capture_output=True)
    assert (started.returncode != 0) is refused
    assert (b"'http://shop.example' is served over plain HTTP" in started.stderr) is refused


def test_what_customers_and_receivers_wrote_is_escaped(customer):
    endpoint = services.create_endpoint(
        owner=customer.user, url=f"https://example.com/{HOSTILE}", event_types=["*"], description=HOSTILE
    )
    delivery = services.send_test_event(endpoint=endpoint)
    Attempt.objects.create(
        delivery=delivery,
        attempted_at=timezone.now(),
        response_status=500,
        duration_ms=12,
        response_body=HOSTILE,
        error=HOSTILE,
    )
    Delivery.objects.filter(id=delivery.id).update(status=DeliveryStatus.FAILED)
    browser = browser_for(customer)
    for path in ("/portal/", f"/portal/endpoints/{endpoint.id}", f"/portal/endpoints/{endpoint.id}/edit"):
        page = browser.get(path).content.decode()
        assert "<script>alert" not in page and "<img src=x" not in page, path
        assert "&lt;script&gt;alert(&#x27;owned&#x27;)&lt;/script&gt;" in page, path
    partial = browser.get(f"/portal/endpoints/{endpoint.id}/deliveries", HTTP_HX_REQUEST="true").content.decode()
    assert "&lt;img src=x onerror=alert(1)&gt;" in partial and "<img" not in partial


# --- Endpoints, through the API's serializer and services --------------------------------


def test_create_an_endpoint_and_see_its_secret_once(customer):
    browser = browser_for(customer)
    created = csrf_post(
        browser,
        "/portal/endpoints/new",
        {
            "url": URL,
            "description": "shop",
            "events": ["order.*", "payment.succeeded"],
            "ordering": "per_subject",
            "rate_limit": "5",
            "filter": "",
        },
    )
    assert created.status_code == 201
    endpoint = Endpoint.objects.get()
    assert re.search(r'id="secret">whsec_[A-Za-z0-9+/=]+<', created.content.decode())
    assert endpoint.secret in created.content.decode()
    assert (endpoint.event_types, endpoint.ordering, endpoint.rate_limit) == (
        ["order.*", "payment.succeeded"],
        "per_subject",
        5,
    )
    assert endpoint.secret not in browser.get(f"/portal/endpoints/{endpoint.id}").content.decode()


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"url": "ftp://example.com/x"}, "url", ""),
        ({"events": ["order.exploded"]}, "events", ""),
        ({"events": [""]}, "events", ""),  # none ticked: the form's hidden empty value alone
        ({"rate_limit": "many"}, "rate_limit", "Send an integer."),
        ({"rate_limit": "0"}, "rate_limit", ""),
        ({"rate_limit": "\u00b2"}, "rate_limit", "Send an integer."),  # a digit to str.isdigit, not to int()
        ({"rate_limit": "9" * 5000}, "rate_limit", ""),  # beyond int()'s 4,300 digits
        ({"ordering": "sideways"}, "ordering", ""),
        ({"filter": "{not json"}, "filter", "not valid JSON"),
        ({"filter": "[" * 100 + "]" * 100}, "filter", "nested deeper"),
    ],
)
def test_the_apis_messages_are_shown_on_the_form(customer, fields, field, message):
    browser = browser_for(customer)
    body = {"url": URL, "events": ["*"], "ordering": "none", "rate_limit": "", "filter": "", **fields}
    response = csrf_post(browser, "/portal/endpoints/new", body)
    assert response.status_code == 400
    page = response.content.decode()
    events = [pattern for pattern in body["events"] if pattern]
    api = customer.client.post("/v1/webhooks", {"url": body["url"], "events": events}, format="json")
    assert f"<code>{field}" in page and message in page
    if field in ("url", "events") and api.status_code == 400:
        for api_message in next(v for k, v in api.json()["errors"].items() if k.startswith(field)):
            assert api_message.replace("'", "&#x27;").replace('"', "&quot;") in page  # the API's own words
    assert not Endpoint.objects.filter(owner=customer.user).exclude(url=body["url"]).exists()


def test_the_endpoint_limit_is_the_apis(customer, settings):
    settings.MAX_WEBHOOK_ENDPOINTS_PER_USER = 1
    services.create_endpoint(owner=customer.user, url=URL, event_types=["*"])
    response = csrf_post(browser_for(customer), "/portal/endpoints/new", {"url": URL, "events": ["*"]})
    assert response.status_code == 409
    assert (
        "Too many webhook endpoints" in response.content.decode() and "1 webhook endpoints" in response.content.decode()
    )


def test_edit_an_endpoint_and_its_filter_through_the_apis_serializer_and_service(customer):
    endpoint = services.create_endpoint(owner=customer.user, url=URL, event_types=["*"])
    browser = browser_for(customer)
    edit = f"/portal/endpoints/{endpoint.id}/edit"
    assert 'name="filter"' in browser.get(edit).content.decode()
    form = {"url": URL + "/v2", "description": "new", "events": ["order.*"], "ordering": "none", "rate_limit": ""}
    saved = csrf_post(browser, edit, {**form, "filter": '{"data.order.total": {"$gte": "100.00"}}'})
    assert saved.status_code == 302, saved.content
    endpoint.refresh_from_db()
    assert (endpoint.url, endpoint.description, endpoint.event_types, endpoint.rate_limit, endpoint.filter) == (
        URL + "/v2",
        "new",
        ["order.*"],
        None,
        {"data.order.total": {"$gte": "100.00"}},
    )
    page = browser.get(f"/portal/endpoints/{endpoint.id}").content.decode()
    assert "&quot;$gte&quot;: &quot;100.00&quot;" in page  # shown, escaped
    assert "&quot;$gte&quot;: &quot;100.00&quot;" in browser.get(edit).content.decode()  # and editable

    # The service's own check: a path no subscribed type has is refused on the form, naming it
    refused = csrf_post(browser, edit, {**form, "filter": '{"data.order.totl": 1}'})
    page = refused.content.decode()
    assert refused.status_code == 400
    assert "<code>filter.data.order.totl</code>" in page and "Unknown path" in page
    assert "{&quot;data.order.totl&quot;: 1}</textarea>" in page  # what was typed, kept
    endpoint.refresh_from_db()
    assert endpoint.filter == {"data.order.total": {"$gte": "100.00"}}

    assert csrf_post(browser, edit, {**form, "filter": ""}).status_code == 302  # empty: no filter
    endpoint.refresh_from_db()
    assert endpoint.filter is None


def test_disable_enable_rotate_and_delete(customer):
    endpoint = services.create_endpoint(owner=customer.user, url=URL, event_types=["*"])
    browser = browser_for(customer)
    base = f"/portal/endpoints/{endpoint.id}"
    assert csrf_post(browser, f"{base}/disable").status_code == 302
    endpoint.refresh_from_db()
    assert (endpoint.is_active, endpoint.disabled_reason) == (False, "manual")
    assert csrf_post(browser, f"{base}/enable").status_code == 302
    endpoint.refresh_from_db()
    assert endpoint.is_active
    old_secret = endpoint.secret
    rotated = csrf_post(browser, f"{base}/rotate-secret")
    endpoint.refresh_from_db()
    assert endpoint.secret != old_secret and endpoint.secret in rotated.content.decode()
    assert endpoint.previous_secret == old_secret
    assert csrf_post(browser, f"{base}/delete").status_code == 302
    assert not Endpoint.objects.exists()


# --- Deliveries --------------------------------------------------------------------------


def test_send_a_test_and_resend_a_delivery(customer):
    endpoint = services.create_endpoint(owner=customer.user, url=URL, event_types=["*"])
    browser = browser_for(customer)
    sent = csrf_post(browser, f"/portal/endpoints/{endpoint.id}/test", HTTP_HX_REQUEST="true")
    assert sent.status_code == 202 and "webhook.test" in sent.content.decode()
    delivery = Delivery.objects.get(endpoint=endpoint)
    Delivery.objects.filter(id=delivery.id).update(status=DeliveryStatus.FAILED)
    resent = csrf_post(
        browser, f"/portal/endpoints/{endpoint.id}/deliveries/{delivery.id}/resend", HTTP_HX_REQUEST="true"
    )
    assert resent.status_code == 202
    assert Delivery.objects.get(id=delivery.id).status == DeliveryStatus.PENDING

    Delivery.objects.filter(id=delivery.id).update(status=DeliveryStatus.SUCCEEDED)
    shown = f"/portal/endpoints/{endpoint.id}/deliveries"
    assert (
        f"delivery-{delivery.id}" in browser.get(f"{shown}?status=succeeded", HTTP_HX_REQUEST="true").content.decode()
    )
    assert (
        f"delivery-{delivery.id}" not in browser.get(f"{shown}?status=failed", HTTP_HX_REQUEST="true").content.decode()
    )
    assert f"delivery-{delivery.id}" in browser.get(f"{shown}?status=", HTTP_HX_REQUEST="true").content.decode()


def test_recover_failed_deliveries_since_a_time_with_its_progress(customer):
    endpoint = services.create_endpoint(owner=customer.user, url=URL, event_types=["*"])
    deliveries = [services.send_test_event(endpoint=endpoint) for _ in range(3)]
    Delivery.objects.filter(id__in=[d.id for d in deliveries]).update(status=DeliveryStatus.FAILED)
    browser = browser_for(customer)
    since = (timezone.now() - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S")
    response = csrf_post(browser, f"/portal/endpoints/{endpoint.id}/recover", {"since": since}, HTTP_HX_REQUEST="true")
    assert response.status_code == 202
    page = response.content.decode()
    assert "Resent 0 of 3 failed deliveries" in page and 'hx-trigger="load delay:1s"' in page
    Delivery.objects.filter(id=deliveries[0].id).update(status=DeliveryStatus.SUCCEEDED)
    poll = re.search(r'hx-get="([^"]+)"', page).group(1).replace("&amp;", "&")
    assert "Resent 1 of 3" in browser.get(poll, HTTP_HX_REQUEST="true").content.decode()

    for since in ("soon", "2026-13-45T10:00:00"):
        refused = csrf_post(
            browser, f"/portal/endpoints/{endpoint.id}/recover", {"since": since}, HTTP_HX_REQUEST="true"
        )
        assert refused.status_code == 400 and refused["HX-Retarget"] == "#messages"
        assert "<code>since</code>" in refused.content.decode()
    garbled = browser.get(f"/portal/endpoints/{endpoint.id}/recover?since=x&started=2026-13-45&count=-1")
    assert garbled.status_code == 400 and "count" in garbled.content.decode()


def test_health_is_24_hourly_counts_by_result_and_latency_percentiles(customer):
    endpoint = services.create_endpoint(owner=customer.user, url=URL, event_types=["*"])
    delivery = services.send_test_event(endpoint=endpoint)
    Delivery.objects.filter(id=delivery.id).update(status=DeliveryStatus.SUCCEEDED)
    now = timezone.now()
    for duration in (10, 20, 30, 40, 1000):
        Attempt.objects.create(delivery=delivery, attempted_at=now, response_status=200, duration_ms=duration)
    health = browser_for(customer).get(f"/portal/endpoints/{endpoint.id}/health").json()
    assert len(health["hours"]) == 24
    assert health["deliveries"]["succeeded"][-1] == 1 and sum(health["deliveries"]["failed"]) == 0
    assert (health["latency"]["p50"][-1], health["latency"]["p95"][-1]) == (30, 1000)
    assert health["latency"]["p50"][0] is None


def test_the_catalog_shows_every_type_with_its_schema_and_an_example(customer):
    page = browser_for(customer).get("/portal/events/catalog").content.decode()
    for entry in event_types():
        assert f"<code>{entry['type']}</code>" in page
    assert "&quot;$schema&quot;" in page and "&quot;data&quot;" in page


def test_the_catalogs_example_is_the_customers_latest_event_escaped(customer):
    endpoint = services.create_endpoint(owner=customer.user, url=URL, event_types=["*"])
    services.send_test_event(endpoint=endpoint)
    Event.objects.filter(type="webhook.test").update(data={"endpoint_id": str(endpoint.id), "message": HOSTILE})
    page = browser_for(customer).get("/portal/events/catalog").content.decode()
    assert "Example: your latest" in page and str(endpoint.id) in page
    assert "<script>alert" not in page and "&lt;script&gt;alert" in page


def test_manage_py_portal_link_prints_a_link_that_opens_once(customer):
    out = io.StringIO()
    call_command("portal_link", customer.user.username.upper(), "--base-url", "http://testserver", stdout=out)
    url = out.getvalue().strip().splitlines()[-1]
    assert Client().get(path_of(url)).status_code == 302
    assert Client().get(path_of(url)).status_code == 403
    call_command("portal_link", customer.user.username, stdout=io.StringIO())
    assert ApiKey.objects.filter(user=customer.user, name="portal_link").count() == 1  # one key, made once
    with pytest.raises(CommandError):
        call_command("portal_link", "nobody-at-all", stdout=io.StringIO())


def test_links_are_pruned_once_neither_they_nor_their_sessions_can_be_used(customer):
    make_link(customer)
    browser_for(customer)  # an opened one
    make_link(customer)
    old, opened, fresh = PortalLink.objects.order_by("created_at")
    PortalLink.objects.filter(id=old.id).update(expires_at=timezone.now() - timedelta(hours=9))
    PortalLink.objects.filter(id=opened.id).update(expires_at=timezone.now() - timedelta(hours=7))
    assert prune_links() == 1
    assert set(PortalLink.objects.values_list("id", flat=True)) == {opened.id, fresh.id}


def test_a_form_becomes_the_json_body_the_api_takes():
    form = QueryDict(mutable=True)
    form.setlist("events", ["", "order.*"])
    form.update({"url": " https://example.com/hook ", "rate_limit": "7", "filter": '{"type": {"$in": ["a"]}}'})
    assert forms.endpoint_body(form) == {
        "url": "https://example.com/hook",
        "events": ["order.*"],
        "rate_limit": 7,
        "filter": {"type": {"$in": ["a"]}},
    }
    form.update({"rate_limit": "", "filter": "  "})
    assert forms.endpoint_body(form)["rate_limit"] is None and forms.endpoint_body(form)["filter"] is None
    form["rate_limit"] = "-3"
    assert forms.endpoint_body(form)["rate_limit"] == "-3"  # as it came: the serializer says why not
    with pytest.raises(forms.FormError):
        forms.parse_filter("NaN")  # not JSON, as the API's parser reads it


@pytest.mark.redis
def test_test_events_from_the_portal_count_with_the_apis_and_a_refusal_is_shown(customer, monkeypatch):
    monkeypatch.setitem(WebhookTestRateThrottle.THROTTLE_RATES, "webhook_test", "3/min")
    endpoint = services.create_endpoint(owner=customer.user, url=URL, event_types=["*"])
    browser = browser_for(customer)
    assert [customer.client.post(f"/v1/webhooks/{endpoint.id}/test").status_code for _ in range(2)] == [202, 202]
    assert csrf_post(browser, f"/portal/endpoints/{endpoint.id}/test", HTTP_HX_REQUEST="true").status_code == 202
    limited = csrf_post(browser, f"/portal/endpoints/{endpoint.id}/test", HTTP_HX_REQUEST="true")
    assert limited.status_code == 429 and 1 <= int(limited["Retry-After"]) <= 60
    assert limited["HX-Retarget"] == "#messages" and "Request was throttled" in limited.content.decode()
    assert Delivery.objects.filter(endpoint=endpoint).count() == 3
