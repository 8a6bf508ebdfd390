"""The admin as staff use it, in headless Chromium driven by Playwright, against a live server and
a real worker. Screenshots land in artifacts/screenshots/."""

import os

import pytest
from django.contrib.auth.models import User
from django.db import connections

from tests import browser as browser_tests
from tests.conftest import ROOT, eventually, order_body
from webhooks import services
from webhooks.models import Delivery, Endpoint

pytestmark = pytest.mark.worker
SCREENSHOTS = ROOT / "artifacts" / "screenshots"


@pytest.fixture
def browser_page(live_server, monkeypatch):
    browser_tests.skip_without_chromium()
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API runs an event loop here
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    User.objects.create_superuser("staff", "staff@example.com", "a long staff password")
    with sync_playwright() as playwright:
        browser = browser_tests.launch(playwright)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"{live_server.url}/admin/")
        page.fill("#id_username", "staff")
        page.fill("#id_password", "a long staff password")
        page.click("input[type=submit]")
        page.wait_for_selector("#dashboard")
        yield page
        browser.close()
        # Queries made while Playwright's event loop runs have their own connections (Django keeps
        # them per async context): give them back, or the test database cannot be dropped.
        connections.close_all()


def shoot(page, name: str) -> None:
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def test_staff_find_a_failed_delivery_retry_it_and_see_it_succeed(workers, browser_page, customer, httpserver):
    page = browser_page
    httpserver.expect_request("/hook").respond_with_data("broken", status=500)
    endpoint = services.create_endpoint(owner=customer.user, url=httpserver.url_for("/hook"), event_types=["*"])
    delivery = services.send_test_event(endpoint=endpoint)
    eventually(lambda: Delivery.objects.get(id=delivery.id).status == "failed", timeout=40, message="the failure")
    httpserver.clear()
    httpserver.expect_request("/hook").respond_with_data(status=204)

    page.reload()
    assert page.inner_text("#failed-24h") == "1"
    shoot(page, "01-dashboard")
    page.click("#failed-24h")
    page.wait_for_selector("#result_list")
    row = page.inner_text("#result_list tbody tr")
    assert "webhook.test" in row
    assert "500 at " in row and "failing since" in row  # why, and how its endpoint is, on the same line
    shoot(page, "02-failed-deliveries")
    page.goto(f"{page.url.split('/admin/')[0]}/admin/webhooks/endpoint/{endpoint.id}/change/")
    assert "failing since" in page.inner_text("#content")
    assert "500" in page.inner_text("#recent-deliveries")
    shoot(page, "02b-endpoint-health")
    page.go_back()
    page.check("input.action-select")
    page.select_option("select[name=action]", "retry")
    page.click("button[name=index]")
    assert "Queued 1 deliveries to be sent again." in page.inner_text("ul.messagelist")
    shoot(page, "03-retry-queued")

    eventually(lambda: Delivery.objects.get(id=delivery.id).status == "succeeded", message="the retry")
    page.goto(f"{page.url.split('/admin/')[0]}/admin/webhooks/delivery/{delivery.id}/change/")
    assert "Succeeded" in page.inner_text("#content") or "succeeded" in page.inner_text("#content")
    assert "204" in page.inner_text("#content")
    shoot(page, "04-delivery-succeeded")


def test_staff_disable_and_enable_an_endpoint(browser_page, customer, db):
    page = browser_page
    endpoint = services.create_endpoint(owner=customer.user, url="https://93.184.215.14/hook", event_types=["*"])
    base = page.url.split("/admin/")[0]

    for action, active in (("disable", False), ("enable", True)):
        page.goto(f"{base}/admin/webhooks/endpoint/")
        page.check("input.action-select")
        page.select_option("select[name=action]", action)
        page.click("button[name=index]")
        assert f"{action.title()}d 1 endpoint(s)" in page.inner_text("ul.messagelist")
        endpoint.refresh_from_db()
        assert endpoint.is_active is active
        shoot(page, f"05-endpoint-{action}d")
    assert Endpoint.objects.get(id=endpoint.id).disabled_reason == ""


def test_staff_read_an_orders_timeline(workers, browser_page, customer, pet, httpserver):
    page = browser_page
    httpserver.expect_request("/hook").respond_with_data(status=204)
    services.create_endpoint(owner=customer.user, url=httpserver.url_for("/hook"), event_types=["order.*"])
    order_id = customer.client.post("/v1/orders", order_body(pet), format="json").json()["id"]
    eventually(
        lambda: Delivery.objects.filter(event__type="order.completed", status="succeeded").exists(),
        message="the order to complete and its webhook to arrive",
    )

    page.goto(f"{page.url.split('/admin/')[0]}/admin/orders/order/{order_id}/change/")
    timeline = page.inner_text("#timeline")
    for text in ("order.created", "payment.succeeded", "placed → approved", "order.completed", "succeeded (204)"):
        assert text in timeline, text
    shoot(page, "06-order-timeline")
    assert os.path.exists(SCREENSHOTS / "06-order-timeline.png")
