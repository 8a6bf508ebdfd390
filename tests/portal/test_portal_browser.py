"""The portal as a customer uses it, in headless Chromium driven by Playwright, at desktop and phone
widths, against the web server as the run command serves it (gunicorn with uvicorn workers, for the
live tail) and a real worker: open a link, add an endpoint, send a test, see the delivery and its
attempt, resend it, edit its filter, watch an event arrive live; no script the page's
Content-Security-Policy refuses, no page wider than the screen, and no serious axe-core violation.
Screenshots land in $PETSTORE_TEST_ARTIFACTS/screenshots/portal/ (default: artifacts/)."""

import json
import os
from pathlib import Path

import pytest
import requests
from django.db import connections

from harness import Processes
from harness.processes import free_port
from tests import browser as browser_tests
from tests.conftest import ROOT
from webhooks.models import Delivery, Endpoint

pytestmark = pytest.mark.worker
AXE = ROOT / "tools" / "a11y" / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = Path(os.environ.get("PETSTORE_TEST_ARTIFACTS", ROOT / "artifacts")) / "screenshots" / "portal"
VIEWPORTS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}


@pytest.fixture(scope="module")
def web(worker_env, tmp_path_factory):
    processes = Processes(
        env={**worker_env, "API_RATE_LIMIT": "100000/min"}, logs=tmp_path_factory.mktemp("portal-web")
    )
    yield processes.start_web(port=free_port(), workers=1, threads=4)
    processes.stop_all()


@pytest.fixture
def chromium(monkeypatch):
    browser_tests.skip_without_chromium()
    if not AXE.exists():
        pytest.skip("axe-core is not installed (make test installs it: cd tools/a11y && npm ci)")
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API runs an event loop here
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = browser_tests.launch(playwright)
        yield browser
        browser.close()
        # Queries made while Playwright's event loop runs have their own connections (Django keeps
        # them per async context): give them back while it runs, or the test database cannot be dropped.
        connections.close_all()


class Watched:
    """A page, and what its console and script errors said."""

    def __init__(self, page, width: str):
        self.page, self.width, self.problems = page, width, []
        page.on("console", lambda message: message.type == "error" and self.problems.append(message.text))
        page.on("pageerror", lambda error: self.problems.append(str(error)))
        page.on("response", lambda response: response.status >= 400 and self.problems.append(response.url))

    def shoot(self, name: str) -> None:
        self.page.screenshot(path=str(SCREENSHOTS / f"{self.width}-{name}.png"), full_page=True)

    def fits_the_screen(self) -> None:
        overflow = self.page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1, f"{self.page.url} is {overflow}px wider than the {self.width} screen"


def axe_violations(page) -> list[dict]:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => (await axe.run(document, {resultTypes: ['violations']})).violations")
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:5]}
        for v in result
        if v["impact"] in ("serious", "critical")
    ]


@pytest.mark.slow
@pytest.mark.parametrize("width", VIEWPORTS)
def test_a_customer_runs_their_webhooks_in_the_portal(workers, web, chromium, make_customer, httpserver, width):
    customer = make_customer()
    auth = {"Authorization": f"Bearer {customer.key}"}
    httpserver.expect_request("/hook").respond_with_data("thanks <b>receiver</b>", status=200)
    link = requests.post(f"{web}/v1/portal/links", json={"ttl_seconds": 300}, headers=auth, timeout=10)
    assert link.status_code == 201, link.text

    context = chromium.new_context(viewport=VIEWPORTS[width])
    watched = Watched(context.new_page(), width)
    page = watched.page
    page.goto(link.json()["url"])
    page.wait_for_selector("h1:has-text('Your webhook endpoints')")
    watched.shoot("01-endpoints")

    # Add an endpoint: its secret is shown once
    page.click("text=Add an endpoint")
    page.fill("#id_url", httpserver.url_for("/hook"))
    page.fill("#id_description", "Shop <backend>")
    watched.shoot("02-add-endpoint")
    page.click("button:has-text('Add endpoint')")
    page.wait_for_load_state()
    assert page.locator("#secret").count() == 1, page.inner_text("main")
    secret = page.inner_text("#secret")
    assert secret.startswith("whsec_")
    endpoint = Endpoint.objects.get(owner=customer.user)
    assert endpoint.secret == secret and endpoint.description == "Shop <backend>"
    watched.shoot("03-secret-once")
    page.click("text=go to the endpoint")
    page.wait_for_selector("#endpoint-url")
    assert page.inner_text("#endpoint-description") == "Shop <backend>"  # shown as text, escaped

    # Send a test: its delivery and its attempt appear without reloading the page
    page.click("#send-test")
    page.wait_for_selector(".delivery[data-status=succeeded] .attempt", timeout=30_000)
    attempt = page.inner_text(".delivery .attempt")
    assert "200" in attempt and "thanks <b>receiver</b>" in attempt and " ms" in attempt
    assert "webhook.test" in page.inner_text(".delivery-head")
    page.wait_for_selector("#health[data-ready=true]")
    watched.shoot("04-delivery-and-attempt")

    # Resend it: a second attempt
    page.click(".delivery .resend")
    page.wait_for_selector(".delivery .count:has-text('2 attempts')", timeout=30_000)
    assert page.locator(".delivery .attempt").count() == 2
    delivery = Delivery.objects.get(endpoint=endpoint)
    assert (delivery.status, delivery.attempt_count) == ("succeeded", 2)
    watched.shoot("05-resent")

    # Edit the filter
    page.click("a:has-text('Edit')")
    page.fill("#id_filter", json.dumps({"type": "webhook.test"}))
    watched.shoot("06-edit-filter")
    page.click("button:has-text('Save')")
    page.wait_for_selector("#endpoint-url")
    assert json.loads(page.inner_text("#endpoint-filter")) == {"type": "webhook.test"}
    endpoint.refresh_from_db()
    assert endpoint.filter == {"type": "webhook.test"}
    watched.fits_the_screen()

    # Watch an event arrive live
    page.click("nav >> text=Live events")
    page.wait_for_selector("#live-state:has-text('live')")
    sent = requests.post(f"{web}/v1/webhooks/{endpoint.id}/test", headers=auth, timeout=10)
    assert sent.status_code == 202, sent.text
    page.wait_for_selector(".live-event[data-type='webhook.test']", timeout=20_000)
    assert str(endpoint.id) in page.inner_text(".live-event")
    watched.shoot("07-live")

    page.click("nav >> text=Event catalog")
    page.wait_for_selector("h1:has-text('Event catalog')")
    watched.fits_the_screen()
    watched.shoot("08-catalog")
    assert not watched.problems, watched.problems  # no CSP refusal, no script error

    # Accessibility: axe-core in each page (a context that lets its script in, with the same session)
    checker = chromium.new_context(viewport=VIEWPORTS[width], bypass_csp=True)
    checker.add_cookies(context.cookies())
    axe_page = checker.new_page()
    for path in (
        "/portal/",
        f"/portal/endpoints/{endpoint.id}",
        f"/portal/endpoints/{endpoint.id}/edit",
        "/portal/endpoints/new",
        "/portal/events/catalog",
        "/portal/events/live",
    ):
        axe_page.goto(f"{web}{path}")
        assert axe_page.url.endswith(path), axe_page.url
        assert not (violations := axe_violations(axe_page)), f"{path}: {violations}"
    checker.close()

    # Revoking the key that made the link ends the session: the page's next refresh says so
    page.goto(f"{web}/portal/endpoints/{endpoint.id}")
    key_id = requests.get(f"{web}/v1/auth/tokens", headers=auth, timeout=10).json()["results"][0]["id"]
    assert requests.delete(f"{web}/v1/auth/tokens/{key_id}", headers=auth, timeout=10).status_code == 204
    page.wait_for_selector("#messages .problem:has-text('session has ended')", timeout=10_000)
    watched.shoot("09-session-ended")
    context.close()
