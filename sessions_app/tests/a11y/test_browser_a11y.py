"""Accessibility by keyboard in a real browser (issue 23): errors a person can find, focus a person can see.

Debian's chromium through Playwright on a 360 px phone screen, as sessions_app/tests/test_browser.py does.
Every failed submit must put focus on the error summary at the top, whose links move focus to their
fields; the booking steps work with Tab, arrows, Enter and Space; step 2's times are a few Tab presses
away; the focus ring is the two-tone one; axe-core finds nothing on any page state visited here.
"""

from __future__ import annotations

import json
from urllib.parse import urljoin

import pytest
from playwright.sync_api import expect

from sessions_app.models import Session
from sessions_app.tests.two_factor import code_for, confirmed_authenticator

from ..factories import PASSWORD, ClientFactory, SessionFactory, SessionTypeFactory, TherapistProfileFactory
from .axe import assert_no_axe_violations, axe_violations

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

DARK_RING = "rgb(29, 35, 48)"  # --focus-dark, #1d2330


class Visit:
    """Checks every page state it is shown with axe-core, and remembers them for the report."""

    def __init__(self, page, base_url: str):
        self.page = page
        self.base_url = base_url
        self.states: list[str] = []

    def goto(self, path: str, state: str) -> None:
        self.page.goto(self.base_url + path)
        self.check(state)

    def check(self, state: str) -> None:
        self.page.wait_for_load_state("load")
        assert_no_axe_violations(self.page, state)
        self.states.append(state)


def console_problems(page) -> list[str]:
    """The console's errors, less the 400 status of each failed submit (the tests' own doing)."""
    refused = "Failed to load resource: the server responded with a status of 400"
    return [text for text in page.console_problems if not text.startswith(refused)]


def active(page) -> str:
    """The focused element as 'tag#id' (or its class when it has no id)."""
    return page.evaluate(
        "(e => e ? e.tagName.toLowerCase() + '#' + (e.id || e.className) : 'none')(document.activeElement)"
    )


def expect_summary_focused(page, *field_ids: str) -> None:
    """Focus is on the summary, at the top of the screen, with one link per field in error."""
    summary = page.locator("[data-error-summary]")
    expect(summary).to_be_focused()
    expect(summary).to_have_attribute("role", "alert")
    expect(summary).to_have_attribute("tabindex", "-1")
    box = summary.bounding_box()
    assert box is not None and box["y"] < page.viewport_size["height"], f"the summary is off screen: {box}"
    assert page.title().startswith("Error: "), page.title()
    hrefs = summary.locator("a").evaluate_all("links => links.map(a => a.getAttribute('href'))")
    assert hrefs == [f"#{field_id}" for field_id in field_ids], hrefs


def follow_summary_link(page, field_id: str, *, keyboard: bool) -> None:
    """From the focused summary, go to a field's link (Tab then Enter, or a click): focus lands on the field."""
    link = page.locator(f"[data-error-summary] a[href='#{field_id}']")
    if keyboard:
        for _ in range(10):
            page.keyboard.press("Tab")
            if page.evaluate("document.activeElement.getAttribute('href')") == f"#{field_id}":
                break
        page.keyboard.press("Enter")
    else:
        link.click()
    expect(page.locator(f"[id='{field_id}']")).to_be_focused()


def tabs_until(page, test: str, limit: int = 80) -> int:
    """Tab presses until the focused element passes `test` (a JS expression on `e`)."""
    for n in range(1, limit + 1):
        page.keyboard.press("Tab")
        if page.evaluate(f"(e => !!e && ({test}))(document.activeElement)"):
            return n
    raise AssertionError(f"{test} not reached in {limit} Tab presses; focus is on {active(page)}")


def press_tab_to(page, test: str) -> None:
    tabs_until(page, test)


def test_axe_helper_reports_violations(browser_page, live_server):
    """The checker is not blind: a picture without alt text and an unlabelled input are reported."""
    page = browser_page
    page.goto(live_server.url + "/")
    assert axe_violations(page) == []
    page.evaluate(
        "document.querySelector('main').insertAdjacentHTML('beforeend', '<img src=\"data:,\"><input type=\"text\">')"
    )
    assert {"image-alt", "label"} <= {v["id"] for v in axe_violations(page)}


def test_client_forms_by_keyboard(browser_page, live_server):
    therapist = TherapistProfileFactory(user__full_name="Amina Odhiambo")
    SessionTypeFactory(therapist=therapist, name="Individual session")
    SessionTypeFactory(therapist=therapist, name="Couples session", duration_minutes=90, price_kes=4500)
    ClientFactory(email="njeri@example.com", full_name="Njeri Kamau")
    page = browser_page
    visit = Visit(page, live_server.url)

    # Sign up with nothing filled in: the summary names every field and takes focus.
    visit.goto("/signup/", "sign up")
    with page.expect_navigation():
        page.get_by_role("button", name="Create account").press("Enter")
    visit.check("sign up, failed")
    expect_summary_focused(page, "id_full_name", "id_email", "id_phone", "id_password1", "id_password2", "id_consent")
    expect(page.locator("#id_email_error")).to_be_visible()  # each field keeps its own message
    follow_summary_link(page, "id_email", keyboard=True)
    page.locator("[data-error-summary]").focus()
    follow_summary_link(page, "id_consent", keyboard=False)

    # Log in with a wrong password: the summary (no field to link to) takes focus.
    visit.goto("/login/", "log in")
    page.get_by_label("Email").fill("njeri@example.com")
    page.get_by_label("Password").fill("not-the-password")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    visit.check("log in, failed")
    expect_summary_focused(page, "id_username")  # an error about the whole form links to its first field
    expect(page.locator("[data-error-summary]")).to_contain_text("do not match an account")
    page.get_by_label("Password").fill(PASSWORD)
    with page.expect_navigation():
        page.get_by_label("Password").press("Enter")
    expect(page.get_by_role("button", name="Log out")).to_be_visible()

    # The directory's filters with a price that is not a number.
    visit.goto("/therapists/?min_price=lots", "directory, bad filter")
    expect_summary_focused(page, "id_min_price")
    follow_summary_link(page, "id_min_price", keyboard=True)

    # Profile with the name cleared.
    visit.goto("/profile/", "profile")
    page.get_by_label("Full name").fill("")
    with page.expect_navigation():
        page.get_by_role("button", name="Save").press("Space")
    visit.check("profile, failed")
    expect_summary_focused(page, "id_full_name")
    follow_summary_link(page, "id_full_name", keyboard=True)

    # Step 1a: Continue with no therapist chosen.
    visit.goto("/book/?restart=1", "step 1a")
    with page.expect_navigation():
        page.get_by_role("button", name="Continue").press("Enter")
    visit.check("step 1a, failed")
    expect_summary_focused(page, "id_therapist")
    follow_summary_link(page, "id_therapist", keyboard=True)
    page.keyboard.press("ArrowDown")  # a closed select takes the next option
    expect(page.locator("#id_therapist")).to_have_value(str(therapist.pk))
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")

    # Step 1b: Next with no session type; the link goes to the first radio; arrows choose, Enter sends.
    expect(page.get_by_role("heading", name="Step 1: choose a session type")).to_be_visible()
    visit.check("step 1b")
    with page.expect_navigation():
        page.get_by_role("button", name="Next: day and time").press("Enter")
    visit.check("step 1b, failed")
    expect_summary_focused(page, "id_session_type_0")
    follow_summary_link(page, "id_session_type_0", keyboard=True)
    page.keyboard.press("Space")
    page.keyboard.press("ArrowDown")
    expect(page.locator("#id_session_type_1")).to_be_checked()
    page.keyboard.press("ArrowUp")
    expect(page.locator("#id_session_type_0")).to_be_checked()
    press_tab_to(page, "e.textContent.trim() === 'Next: day and time'")
    page.keyboard.press("Enter")

    # Step 2: the skip link reaches the times in 3 Tab presses (was 29); Next is 2 more.
    expect(page.get_by_role("heading", name="Step 2: choose a day, then a time")).to_be_visible()
    visit.check("step 2")
    # The second day listed: a whole day of times (the first is cut by the 24 hours' notice).
    step2 = urljoin(page.url, page.locator(".day-links a").nth(1).get_attribute("href"))
    page.goto(step2)
    without_skip = tabs_until(page, "e.matches('.slots input')")
    page.goto(step2)
    first = page.evaluate("document.activeElement === document.body")
    assert first
    assert tabs_until(page, "e.matches('.skip-link[href=\"#times\"]')") == 2
    visit.check("step 2, skip link focused")
    page.keyboard.press("Enter")
    to_time = 2 + tabs_until(page, "e.matches('.slots input')")
    to_next = to_time + tabs_until(page, "e.textContent.trim() === 'Next: your details'")
    assert to_time <= 3, to_time
    assert to_next <= 5, to_next
    print(
        f"step 2 Tab presses: to the first time {without_skip} without the skip link, {to_time} with it; to Next {to_next}"
    )

    # The date input's ring is the dark one (the picker's parts are inside it).
    page.goto(step2)
    press_tab_to(page, "e.id === 'id_date'")
    ring = page.evaluate(
        "(s => [s.outlineStyle, s.outlineColor, s.outlineWidth])(getComputedStyle(document.activeElement))"
    )
    assert ring == ["solid", DARK_RING, "3px"], ring
    visit.check("step 2, date input focused")

    # Step 2 with no time: the summary is at the top (it was 1,362 px down) and links to the first time.
    with page.expect_navigation():
        page.get_by_role("button", name="Next: your details").press("Enter")
    visit.check("step 2, failed")
    expect_summary_focused(page, "id_start_0")
    follow_summary_link(page, "id_start_0", keyboard=True)
    ring = page.evaluate("getComputedStyle(document.querySelector('label[for=id_start_0]')).outlineColor")
    assert ring == DARK_RING, ring
    page.keyboard.press("Space")
    page.keyboard.press("ArrowRight")
    expect(page.locator("#id_start_1")).to_be_checked()
    chosen = page.locator("label[for=id_start_1]").inner_text()
    visit.check("step 2, time chosen")
    press_tab_to(page, "e.textContent.trim() === 'Next: your details'")
    page.keyboard.press("Space")

    # Step 3 without agreeing: the summary names the checkbox; Space ticks it.
    expect(page.get_by_role("heading", name="Step 3: details for your request")).to_be_visible()
    visit.check("step 3")
    with page.expect_navigation():
        page.get_by_role("button", name="Next: review").press("Enter")
    visit.check("step 3, failed")
    expect_summary_focused(page, "id_agree_policy")
    expect(page.locator("#id_agree_policy_error")).to_be_visible()
    follow_summary_link(page, "id_agree_policy", keyboard=True)
    page.keyboard.press("Space")
    expect(page.locator("#id_agree_policy")).to_be_checked()
    press_tab_to(page, "e.textContent.trim() === 'Next: review'")
    page.keyboard.press("Enter")

    # Step 4: Send with Space.
    expect(page.get_by_text(chosen, exact=False).first).to_be_visible()
    visit.check("step 4")
    press_tab_to(page, "e.textContent.trim() === 'Send request'")
    with page.expect_navigation():
        page.keyboard.press("Space")
    expect(page.get_by_role("heading", name="Your request is sent")).to_be_visible()
    visit.check("request sent")

    # Cancel with no reason.
    session = Session.objects.get(client__email="njeri@example.com")
    visit.goto(f"/my/sessions/{session.pk}/cancel/", "cancel")
    with page.expect_navigation():
        page.get_by_role("button", name="Yes, cancel this session").press("Enter")
    visit.check("cancel, failed")
    expect_summary_focused(page, "id_reason")
    follow_summary_link(page, "id_reason", keyboard=False)

    # Pay with a number M-Pesa cannot use.
    approved = SessionFactory(client=session.client, session_type=session.session_type, approved=True)
    visit.goto(f"/pay/{approved.pk}/", "pay")
    page.locator("#id_phone").fill("12")
    with page.expect_navigation():
        page.locator("#id_phone").press("Enter")
    visit.check("pay, failed")
    expect_summary_focused(page, "id_phone")
    follow_summary_link(page, "id_phone", keyboard=True)

    # Password change with nothing filled in.
    visit.goto("/profile/password/", "password change")
    with page.expect_navigation():
        page.get_by_role("button", name="Change password").press("Enter")
    visit.check("password change, failed")
    summary_links = page.locator("[data-error-summary] a").count()
    assert summary_links >= 3, summary_links
    follow_summary_link(page, "id_old_password", keyboard=True)

    assert console_problems(page) == []
    print(f"axe-core: 0 violations on {len(visit.states)} page states: {json.dumps(visit.states)}")


def test_dashboard_forms_by_keyboard(browser_page, live_server):
    therapist = TherapistProfileFactory(user__full_name="Amina Odhiambo", user__email="amina@example.com")
    session_type = SessionTypeFactory(therapist=therapist, name="Individual session")
    request = SessionFactory(session_type=session_type)
    secret = confirmed_authenticator(therapist.user)
    page = browser_page
    visit = Visit(page, live_server.url)
    visit.goto("/login/", "log in (therapist)")
    page.get_by_label("Email").fill("amina@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    with page.expect_navigation():
        page.get_by_label("Password").press("Enter")
    # The second step, by keyboard too: the code from the authenticator app.
    page.get_by_label("Code").fill(code_for(secret))
    with page.expect_navigation():
        page.get_by_label("Code").press("Enter")
    expect(page.get_by_role("heading", name="Your dashboard")).to_be_visible()
    visit.check("dashboard")

    # The overview's quick decline, sent blank by keyboard: the session page's summary takes focus.
    page.locator("details.decline summary").press("Enter")
    visit.check("dashboard, decline open")
    with page.expect_navigation():
        page.get_by_role("button", name="Decline request").press("Enter")
    visit.check("dashboard decline, failed")
    expect_summary_focused(page, "id_decline-reason")

    # The week: open hours carry text, not only a shade.
    visit.goto("/dashboard/week/", "week")
    assert page.locator("td.open .visually-hidden", has_text="Open hours").count() > 0

    # Availability: add hours and time off with nothing filled in.
    visit.goto("/dashboard/availability/", "availability")
    with page.expect_navigation():
        page.get_by_role("button", name="Add hours").press("Enter")
    visit.check("add hours, failed")
    expect_summary_focused(page, "id_start_time", "id_end_time")
    follow_summary_link(page, "id_end_time", keyboard=True)
    ring = page.evaluate("getComputedStyle(document.activeElement).outlineColor")
    assert ring == DARK_RING, ring
    with page.expect_navigation():
        page.get_by_role("button", name="Add time off").press("Enter")
    visit.check("add time off, failed")
    expect_summary_focused(page, "id_start", "id_end")
    follow_summary_link(page, "id_start", keyboard=False)

    # Settings out of range.
    visit.goto("/dashboard/settings/", "settings")
    page.get_by_label("Buffer", exact=False).fill("-5")
    with page.expect_navigation():
        page.get_by_role("button", name="Save settings").press("Enter")
    visit.check("settings, failed")
    expect_summary_focused(page, "id_buffer_minutes")
    follow_summary_link(page, "id_buffer_minutes", keyboard=True)

    # A new session type with nothing filled in; the link to "Where" goes to its first radio.
    visit.goto("/dashboard/session-types/", "session types")
    page.get_by_label("Name").fill("")
    with page.expect_navigation():
        page.get_by_role("button", name="Add session type").press("Enter")
    visit.check("session types, failed")
    summary = page.locator("[data-error-summary]")
    expect(summary).to_be_focused()
    expect(summary.locator("a[href='#id_name']")).to_have_count(1)
    follow_summary_link(page, "id_name", keyboard=True)

    # The request: decline with no reason, then a note with nothing in it.
    visit.goto(f"/dashboard/sessions/{request.pk}/", "session")
    with page.expect_navigation():
        page.get_by_role("button", name="Decline request").press("Enter")
    visit.check("decline, failed")
    expect_summary_focused(page, "id_decline-reason")
    follow_summary_link(page, "id_decline-reason", keyboard=True)
    with page.expect_navigation():
        page.get_by_role("button", name="Add note").press("Enter")
    visit.check("note, failed")
    expect_summary_focused(page, "id_body")
    follow_summary_link(page, "id_body", keyboard=True)

    assert console_problems(page) == []
    print(f"axe-core: 0 violations on {len(visit.states)} page states: {json.dumps(visit.states)}")
