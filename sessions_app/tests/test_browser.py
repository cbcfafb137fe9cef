"""The whole client journey in a real browser: sign up, browse, book, (approval), pay, Confirmed.

Drives Debian's chromium (``shutil.which("chromium")``) with Playwright's sync API
against pytest-django's live server; no browser is ever downloaded. The Daraja
simulator runs as a real server in a subprocess and posts its callback to the
live server. A screenshot of each step lands in test-artifacts/browser/, and axe-core
(sessions_app/tests/a11y/axe.py) checks each step's page: any violation fails.

`make test` installs chromium (apt) and playwright (pip) when missing. Without
them this test fails; it never skips.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core import mail
from playwright.sync_api import expect, sync_playwright

from sessions_app import services
from sessions_app.models import Session, User

from .a11y.axe import assert_no_axe_violations
from .factories import SessionTypeFactory, TherapistProfileFactory

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ARTIFACTS = Path(django_settings.BASE_DIR) / "test-artifacts" / "browser"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
PHONE = "0712 345 678"  # the simulator pays numbers ending in 0, 8 or 9
PASSWORD = "kahawa-asubuhi-2026"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def chromium_path() -> str:
    path = shutil.which("chromium")
    if not path:
        pytest.fail(
            "Debian's chromium is not installed. Run `make test` (it runs scripts/ensure_chromium.sh) "
            "or `apt-get install chromium chromium-driver`.",
            pytrace=False,
        )
    return path


@pytest.fixture
def daraja_simulator(settings, live_server):
    """`manage.py daraja_simulator` on a free port; its callbacks go to the live server."""
    port = _free_port()
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "booking_project.settings.test"}
    process = subprocess.Popen(  # noqa: S603 - our own manage.py with fixed arguments
        [
            sys.executable,
            "manage.py",
            "daraja_simulator",
            "--port",
            str(port),
            "--callback-delay",
            "1",
            "--pending-seconds",
            "1",
        ],
        cwd=django_settings.BASE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                output = process.stdout.read().decode(errors="replace") if process.stdout else ""
                pytest.fail(f"The Daraja simulator did not start:\n{output}", pytrace=False)
            time.sleep(0.1)
    settings.DARAJA_BASE_URL = f"http://127.0.0.1:{port}"
    settings.DARAJA_CALLBACK_BASE_URL = live_server.url
    settings.MPESA_CALLBACK_ALLOWED_IPS = []
    yield settings.DARAJA_BASE_URL
    process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


@pytest.fixture
def browser_page(chromium_path, monkeypatch):
    # Playwright's sync API keeps an event loop in this thread; the ORM calls made
    # here between steps (the therapist's approval) are plain synchronous code.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 360, "height": 800}, locale="en-GB")
        context.set_default_timeout(15_000)
        page = context.new_page()
        page.console_problems = []
        page.on(
            "console",
            lambda message: page.console_problems.append(message.text) if message.type == "error" else None,
        )
        try:
            yield page
        finally:
            context.close()
            browser.close()


class Journey:
    """The journey's screenshots, one a step, in test-artifacts/browser/ (its own directory: other browser
    tests share the ``browser_page`` fixture, and may run beside it on another worker)."""

    def __init__(self, page, base_url: str):
        self.page = page
        self.base_url = base_url
        self.step = 0
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        for old in ARTIFACTS.glob("*.png"):
            old.unlink()

    def shot(self, name: str) -> None:
        """Screenshot the step, check the page fits a 360-pixel phone screen and axe-core finds nothing on it."""
        self.page.wait_for_load_state("load")
        assert_no_axe_violations(self.page, name)
        self.step += 1
        self.page.screenshot(path=str(ARTIFACTS / f"{self.step:02d}-{name}.png"), full_page=True)
        width = self.page.evaluate("document.documentElement.scrollWidth")
        assert width <= 360, f"{name}: the page is {width}px wide on a 360px screen"


def test_sign_up_book_get_approved_pay_and_see_confirmed(browser_page, live_server, daraja_simulator):
    therapist = TherapistProfileFactory(user__full_name="Amina Odhiambo", title="Clinical Psychologist")
    SessionTypeFactory(therapist=therapist, name="Individual session", price_kes=3000, duration_minutes=60)
    page = browser_page
    journey = Journey(page, live_server.url)

    # Sign up.
    page.goto(live_server.url + "/")
    journey.shot("home")
    page.get_by_role("link", name="Sign up").click()
    page.get_by_label("Full name").fill("Wanjiku Mwangi")
    page.get_by_label("Email").fill("wanjiku@example.com")
    page.get_by_label("Mobile number").fill(PHONE)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password again").fill(PASSWORD)
    page.get_by_label("I have read the terms of use and the privacy notice").check()
    journey.shot("signup")
    page.get_by_role("button", name="Create account").click()

    # Browse the directory and the therapist's page.
    expect(page.get_by_role("heading", name="Find a therapist")).to_be_visible()
    expect(page.get_by_text("Your account is ready")).to_be_visible()
    expect(page.get_by_text("from KES 3,000")).to_be_visible()
    journey.shot("directory")
    # A new account confirms its email before it can book: follow the link the email carries.
    link = next(w for w in mail.outbox[-1].body.split() if "/account/verify/" in w)
    page.goto(live_server.url + link[link.index("/account/verify/") :])  # the email's site address is not this server
    expect(page.get_by_text("wanjiku@example.com")).to_be_visible()
    page.goto(live_server.url + "/therapists/")
    page.get_by_role("link", name="Amina Odhiambo", exact=True).click()
    expect(page.get_by_role("heading", name="Amina Odhiambo")).to_be_visible()
    journey.shot("therapist")
    page.get_by_role("link", name="Book another time").click()

    # The stepper: step 2 first (the link chose the session type), back to step 1, and on.
    expect(page.get_by_role("heading", name="Step 2: choose a day, then a time")).to_be_visible()
    page.get_by_role("link", name="Back").click()
    expect(page.get_by_role("heading", name="Step 1: choose a session type")).to_be_visible()
    expect(page.get_by_label("Individual session: 60 min")).to_be_checked()
    journey.shot("step1-session-type")
    page.get_by_role("button", name="Next: day and time").click()
    expect(page.get_by_text("your time zone, Africa/Nairobi")).to_be_visible()
    # Next with no time chosen: the error summary at the top takes focus; its link goes to the first time.
    with page.expect_navigation():
        page.get_by_role("button", name="Next: your details").click()
    expect(page.locator("[data-error-summary]")).to_be_focused()
    expect(page.locator("#id_start_error")).to_contain_text("Please choose a time")
    journey.shot("step2-no-time")
    page.locator("[data-error-summary] a[href='#id_start_0']").click()
    expect(page.locator("#id_start_0")).to_be_focused()
    first_time = page.locator(".slots label").first
    chosen_time = first_time.inner_text()
    first_time.click()
    journey.shot("step2-time")
    page.get_by_role("button", name="Next: your details").click()
    expect(page.get_by_label("M-Pesa number to pay from")).to_have_value("0712345678")
    page.get_by_label("Anything the therapist should know").fill("Mornings suit me best.")
    page.get_by_role("button", name="Next: review").click()
    # Forgot to agree: focus is on the error summary at the top, the error is next to the checkbox too.
    summary = page.locator("[data-error-summary]")
    expect(summary).to_be_focused()
    expect(summary.get_by_role("link")).to_have_text(
        "I agree to the cancellation policy above: Please agree to the cancellation policy to continue."
    )
    expect(page.locator("#id_agree_policy_error")).to_contain_text("agree to the cancellation policy")
    expect(page.locator("#id_agree_policy")).to_have_attribute("aria-invalid", "true")
    journey.shot("step3-not-agreed")
    summary.get_by_role("link").press("Enter")
    expect(page.locator("#id_agree_policy")).to_be_focused()
    page.get_by_label("I agree to the cancellation policy above.").check()
    journey.shot("step3-details")
    page.get_by_role("button", name="Next: review").click()
    expect(page.get_by_text("Mornings suit me best.")).to_be_visible()
    expect(page.get_by_text(chosen_time, exact=False).first).to_be_visible()
    journey.shot("step4-review")
    page.get_by_role("button", name="Send request").click()

    # Confirmation: Pending Approval.
    expect(page.get_by_role("heading", name="Your request is sent")).to_be_visible()
    expect(page.locator(".badge-pending_approval")).to_have_text("Pending Approval")
    journey.shot("sent")
    page.go_back()  # Back to the review page: shows what was sent, never sends again
    expect(page.get_by_role("heading", name="Your request is sent")).to_be_visible()
    client_user = User.objects.get(email="wanjiku@example.com")
    session = Session.objects.get(client=client_user)
    assert Session.objects.count() == 1
    assert session.client_notes == "Mornings suit me best."

    # The therapist approves (through the service, as the dashboard does).
    services.session_approve(session=session, actor=therapist.user)

    # Pay with M-Pesa through the simulator.
    page.get_by_role("link", name="See this session").click()
    expect(page.locator("p.badges .badge-approved")).to_have_text("Approved")
    journey.shot("approved")
    page.get_by_role("link", name="Pay KES 3,000 with M-Pesa").click()
    expect(page.locator("#id_phone")).to_have_value("0712345678")
    journey.shot("pay")
    page.get_by_role("button", name="Pay KES 3,000 with M-Pesa").click()
    expect(page.locator("#pay-done, #pay-success").first).to_be_visible(timeout=30_000)
    journey.shot("paid")

    # The session's page: Confirmed, with the receipt.
    page.goto(live_server.url + f"/my/sessions/{session.pk}/")
    expect(page.locator("p.badges .badge-confirmed")).to_have_text("Confirmed")
    expect(page.get_by_role("heading", name="Receipt")).to_be_visible()
    journey.shot("confirmed")
    session.refresh_from_db()
    assert session.status == Session.Status.CONFIRMED
    assert session.payment_status == Session.PaymentStatus.PAID
    expect(page.get_by_text(session.mpesa_receipt_number)).to_be_visible()

    # My sessions lists it with its badges; logging out is a POST.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="My sessions").click()
    expect(page.locator(".session-list .badge-confirmed")).to_have_text("Confirmed")
    journey.shot("my-sessions")
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("link", name="Log in")).to_be_visible()

    assert page.console_problems == [], page.console_problems
    assert len(list(ARTIFACTS.glob("*.png"))) == journey.step
