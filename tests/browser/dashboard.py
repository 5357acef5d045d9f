"""The dashboard in headless Chromium, as an admin uses it: log in, open figures as the
conversations they count (the support figures too), filter the conversations, read the
questions the bot could not handle and see a new one arrive, open a transcript, move a contact request on, see a new one arrive
without reloading, set up and send the weekly report, and add a webhook endpoint and test it.

Run by tests/tests/browser.rs against a stack it started; arguments and paths come from the
environment it sets. Screenshots of every step go to COLLOQUY_ARTIFACTS. Exits non-zero (an
assertion or a Playwright timeout) when a step does not do what it should.
"""

import json
import os
import urllib.request

from playwright.sync_api import expect, sync_playwright

QUERY = os.environ["COLLOQUY_QUERY_URL"]
INGEST = os.environ["COLLOQUY_INGEST_URL"]
TOKEN = os.environ["COLLOQUY_TOKEN"]
WRITE_KEY = os.environ["COLLOQUY_WRITE_KEY"]
WEBSITE = os.environ["COLLOQUY_WEBSITE"]
ARTIFACTS = os.environ["COLLOQUY_ARTIFACTS"]
CHROMIUM = os.environ["COLLOQUY_CHROMIUM"]
# Generous: a debug build on two busy cores. Playwright waits only as long as it must.
expect.set_options(timeout=30_000)


def post(events):
    request = urllib.request.Request(
        f"{INGEST}/v1/events",
        data=json.dumps({"batch": events}).encode(),
        headers={"Content-Type": "application/json", "X-Write-Key": WRITE_KEY},
    )
    with urllib.request.urlopen(request) as response:
        assert json.load(response)["accepted"] == len(events)


def main():
    problems = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 390, "height": 844})
        page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
        page.on("console", lambda m: m.type == "error" and problems.append(f"console: {m.text}"))
        shot = lambda name: page.screenshot(path=os.path.join(ARTIFACTS, f"{name}.png"), full_page=True)

        page.goto(f"{QUERY}/admin")
        page.fill("#token", "not-a-token")
        page.click("button[type=submit]")
        expect(page.locator("#login-error")).to_contain_text("Cannot log in")
        # The browser logs that refused request (401) as an error; it was the point.
        problems.clear()
        page.fill("#token", TOKEN)
        page.click("button[type=submit]")
        expect(page.locator("[data-metric=engaged_conversations] .value")).to_have_text("1")
        expect(page.locator("#live")).to_have_class("live")
        # One channel: a bar for its conversations and one for their messages.
        expect(page.locator("svg[aria-label='Conversations by channel'] rect")).to_have_count(2)
        expect(page.locator("svg[aria-label='Conversations by device'] rect")).to_have_count(2)
        # Posted from the loopback address: no country, one `unknown` row.
        expect(page.locator("svg[aria-label='Conversations by country'] rect")).to_have_count(2)
        expect(page.locator("svg[aria-label='Conversations by language'] rect")).to_have_count(2)
        shot("1-overview")

        # Every figure opens the conversations it counts: the list's total is the figure, and
        # its filters live in the address, so a reload shows the same rows.
        for metric in ["widget_loads", "engaged_conversations", "contact_requests", "unique_visitors"]:
            value = page.locator(f"[data-metric={metric}] .value").inner_text()
            assert page.locator(f"[data-metric={metric}]").get_attribute("title"), f"{metric} has no definition"
            page.click(f"[data-metric={metric}]")
            expect(page.locator("#drill-down")).to_contain_text("started")
            rows = page.locator("#conversation-list tbody tr")
            if metric != "unique_visitors":
                expect(page.locator("#conversation-count")).to_contain_text(f"{value} conversations")
                expect(rows).to_have_count(int(value))
            if metric == "engaged_conversations":
                shot("1b-drill-down")
            page.reload()
            expect(page.locator("#drill-down")).to_contain_text("started")
            if metric != "unique_visitors":
                expect(rows).to_have_count(int(value))
            page.go_back()
            expect(page.locator("[data-metric=engaged_conversations] .value")).to_have_text("1")

        # The support figures carry their definitions; a median opens the conversations it is
        # taken over (browser-1, which the bot answered); the heat map has every local day
        # of the week and hour.
        for metric in ["escalation_rate", "containment_rate", "csat", "waiting_for_human",
                       "median_bot_first_response_ms", "median_resolution_ms"]:
            assert page.locator(f"[data-metric={metric}]").get_attribute("title"), f"{metric} has no definition"
        expect(page.locator("[data-chart=heat] td")).to_have_count(7 * 24)
        page.click("[data-metric=median_bot_first_response_ms]")
        expect(page.locator("#drill-down")).to_contain_text("bot wrote")
        expect(page.locator("#conversation-list tbody tr")).to_have_count(1)
        expect(page.locator("#conversation-list")).to_contain_text("browser-1")
        shot("1c-support-drill-down")
        page.go_back()
        expect(page.locator("[data-metric=engaged_conversations] .value")).to_have_text("1")

        page.click("a[href='#conversations']")
        expect(page.locator("#conversation-list tbody tr")).to_have_count(1)
        page.select_option("#status", "closed")
        expect(page.locator("#conversation-list tbody tr")).to_have_count(0)
        page.select_option("#status", "active")
        expect(page.locator("#conversation-list tbody tr")).to_have_count(1)
        # A new conversation while the list is open: it appears without reloading.
        post([
            {"type": "message.sent", "conversation_id": "browser-3",
             "payload": {"sender": "user", "text": "Are you open on Sundays?"}},
        ])
        expect(page.locator("#conversation-list tbody tr")).to_have_count(2)
        expect(page.locator("#conversation-list")).to_contain_text("browser-3")
        shot("2-conversations-live")

        # Nobody answered browser-3: its question is what the bot should learn next.
        page.click("a[href='#quality']")
        expect(page.locator("#question-groups tbody tr")).to_have_count(1)
        expect(page.locator("#question-groups")).to_contain_text("Are you open on Sundays?")
        shot("2b-bot-quality")
        page.go_back()
        expect(page.locator("#conversation-list tbody tr")).to_have_count(2)
        page.click("#conversation-list tbody tr:has-text('browser-1')")
        expect(page.locator("#transcript .bubble")).to_have_count(2)
        expect(page.locator("#transcript")).to_contain_text("Do you ship to Norway?")
        shot("3-transcript")
        # An admin makes it urgent: the list shows it, and lists it first in urgency order.
        expect(page.locator("#priority")).to_have_value("normal")
        page.select_option("#priority", "urgent")
        expect(page.locator("#priority")).to_have_value("urgent")
        expect(page.locator("#priority")).to_be_enabled()
        page.go_back()
        page.select_option("select:has(option[value='-priority'])", "-priority")
        expect(page.locator("#conversation-list tbody tr").first).to_contain_text("browser-1")
        expect(page.locator("#conversation-list tbody tr").first.locator(".badge.urgent")).to_have_count(1)
        page.click("#conversation-list tbody tr:has-text('browser-1')")
        expect(page.locator("#transcript .bubble")).to_have_count(2)

        page.click("a[href='#requests']")
        expect(page.locator("#request-list tbody tr")).to_have_count(1)
        page.click("#request-list tbody tr")
        expect(page.locator("#request-status-badge")).to_have_text("pending")
        page.fill("#notes", "Called back, interested in the Pro plan")
        page.click("button[data-status=contacted]")
        expect(page.locator("#request-status-badge")).to_have_text("contacted")
        shot("4-request-contacted")

        # A new request while the table is open: it appears without reloading.
        page.click("a[href='#requests']")
        expect(page.locator("#request-status")).to_have_value("pending")
        expect(page.locator("#request-list tbody tr")).to_have_count(0)
        post([
            {"type": "contact.submitted", "conversation_id": "browser-2",
             "payload": {"name": "Grace Hopper", "email": "grace@example.com", "message": "Demo?"}},
        ])
        expect(page.locator("#request-list tbody tr")).to_have_count(1)
        expect(page.locator("#request-list")).to_contain_text("Grace Hopper")
        shot("5-live-request")

        # The contacts, each with its lead score: both wrote once, today, and asked neither
        # about prices nor for a demo (a form's message is not a visitor's question).
        page.click("a[href='#contacts']")
        expect(page.locator("#contact-list tbody tr")).to_have_count(2)
        # The insights above the list: both are new this month; the figure opens as them.
        expect(page.locator("#contact-insights [data-metric=new_contacts] .value")).to_have_text("2")
        assert page.locator("#contact-insights [data-metric=new_contacts]").get_attribute("title"), "no definition"
        page.click("#contact-insights [data-metric=new_contacts]")
        expect(page.locator("#contact-drill-down")).to_contain_text("new contacts")
        expect(page.locator("#contact-list tbody tr")).to_have_count(2)
        page.go_back()
        expect(page.locator("#contact-list tbody tr")).to_have_count(2)
        expect(page.locator("#contact-list tbody tr:has-text('Ada Lovelace') .badge")).to_have_text("warm")
        page.select_option("#lead-score", "hot")
        expect(page.locator("#contact-list tbody tr")).to_have_count(0)
        page.select_option("#lead-score", "warm")
        expect(page.locator("#contact-list tbody tr")).to_have_count(2)
        # Every list offers its exports; the Excel one downloads a workbook.
        with page.expect_download() as download:
            page.locator("[data-export=contacts]").get_by_role("button", name="Excel", exact=True).click()
        assert download.value.suggested_filename == "contacts.xlsx", download.value.suggested_filename
        with open(download.value.path(), "rb") as f:
            assert f.read(2) == b"PK", "an .xlsx is a zip file"
        page.click("#contact-list tbody tr:has-text('Ada Lovelace')")
        expect(page.locator("#lead-score")).to_contain_text("active in the last 7 days")
        shot("5b-contact-lead-score")

        # Weekly reports: set a recipient, then send last week's now (the Rust side checks the
        # mail catcher got it), and a second send is refused as a repeat.
        page.click("a[href='#reports']")
        page.fill("#report-website", WEBSITE)
        page.click("button:has-text('Open')")
        page.fill("#report-recipients", "owner@shop.example")
        page.fill("#report-time-zone", "Europe/Oslo")
        page.click("button:has-text('Save')")
        expect(page.locator("#report-result")).to_have_text("Saved.")
        page.click("#report-send")
        expect(page.locator("#report-result")).to_contain_text("went to 1 recipient")
        page.click("#report-send")
        expect(page.locator("#report-result")).to_contain_text("sent before")
        shot("6-report-sent")

        # Integrations: register a webhook endpoint (its secret is shown once), queue a test
        # message and find it in the delivery log.
        page.click("a[href='#integrations']")
        page.fill("#webhook-website", WEBSITE)
        page.click("button:has-text('Open')")
        page.fill("#webhook-url", "http://127.0.0.1:9/crm")
        page.click("button:has-text('Add')")
        expect(page.locator("#webhook-result")).to_contain_text("whsec_")
        expect(page.locator("#webhooks tbody tr")).to_have_count(1)
        page.click("#webhooks button:has-text('Send a test')")
        expect(page.locator("#webhook-result")).to_contain_text("queued")
        page.click("#webhooks button:has-text('Delivery log')")
        expect(page.locator("#webhook-deliveries tbody tr:has-text('webhook.test')")).to_have_count(1)
        shot("7-webhooks")
        browser.close()
    assert not problems, problems
    print("dashboard: every step passed")


main()
