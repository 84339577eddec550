"""The web console, end to end in headless Chromium. Each test leaves a screenshot in docs/console/."""

from __future__ import annotations

import json
import time
from typing import Any, Callable

from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from console_plane import Console, Plane, shot, viewport


def wait(driver: Any, what: str, condition: Callable[[Any], Any], seconds: float = 30) -> Any:
    def attempt(d: Any) -> Any:
        try:
            return condition(d)
        except StaleElementReferenceException:
            return False
    return WebDriverWait(driver, seconds, poll_frequency=0.2).until(attempt, message=f"timed out waiting for {what}")


def css(driver: Any, selector: str) -> list[Any]:
    return driver.find_elements(By.CSS_SELECTOR, selector)


def text_of(driver: Any, selector: str) -> str:
    found = css(driver, selector)
    return found[0].text if found else ""


def open_console(driver: Any, console: Console, route: str = "#/") -> None:
    """Opens the printed URL (the secret becomes a cookie), then the route."""
    driver.get(console.url)
    wait(driver, "the console to load", lambda d: d.execute_script("return document.readyState") == "complete")
    driver.get(console.origin + "/" + route)
    wait(driver, "the page to render", lambda d: not text_of(d, "main").startswith("Loading"))


def count(driver: Any, kind: str, status: str) -> str:
    return text_of(driver, f'[data-count="{kind}-{status}"] .n')


def test_a_request_without_the_session_secret_gets_401(plane: Plane, page: Any) -> None:
    console = plane.owner
    for path in ("/", "/js/app.js", "/api/session"):
        status, _, _ = console.request("GET", path, cookie=False)
        assert status == 401, path
    status, _, body = console.request("POST", "/api/broker/command.create", {"service": "billing-bridge", "action": "flush-cache"},
                                      headers={"Content-Type": "application/json", "X-Capsule-Console": "1"}, cookie=False)
    assert status == 401 and json.loads(body)["error"]["code"] == "unauthenticated"
    assert console.request("GET", "/?token=" + "0" * 64, cookie=False)[0] == 401
    # The right secret in the URL: a cookie that no script can read, and a URL without the secret.
    status, headers, _ = console.request("GET", "/?token=" + console.secret, cookie=False)
    assert status == 303 and headers["Location"] == "/"
    assert "HttpOnly" in headers["Set-Cookie"] and "SameSite=Strict" in headers["Set-Cookie"]
    assert console.request("GET", "/api/session")[0] == 200
    # Another host name (DNS rebinding) is refused even with the secret.
    assert console.request("GET", "/api/session", headers={"Host": f"attacker.example:{console.port}"})[0] == 403
    page.delete_all_cookies()
    page.get(console.origin + "/")
    assert "401" in page.title
    shot(page, "unauthorized")


def test_dashboard_shows_both_services_healthy_and_updates_live(plane: Plane, page: Any) -> None:
    open_console(page, plane.owner)
    wait(page, "HEALTHY 2", lambda d: count(d, "service", "HEALTHY") == "2")
    assert count(page, "agent", "ONLINE") == "2"
    assert "owner" in text_of(page, "#who")
    wait(page, "the live stream", lambda d: "live" in text_of(d, "#live-state"))
    wait(page, "both services' transitions to HEALTHY", lambda d: {
        row.get_attribute("data-subject") for row in css(d, '#transitions tr[data-to="HEALTHY"]')} >= {"service:billing-bridge", "service:billing-worker"})
    shot(page, "dashboard")
    # A change arrives without a reload: the service turns UNHEALTHY, then HEALTHY again.
    marker = page.execute_script("window.__sameDocument = 1; return 1")
    result = plane.cluster.ctl("action", "run", "billing-bridge", "set-health", "--payload", '{"status":"DEGRADED"}')
    assert result.returncode == 0, result.stderr
    wait(page, "UNHEALTHY 1 on the live dashboard", lambda d: count(d, "service", "UNHEALTHY") == "1")
    assert page.execute_script("return window.__sameDocument") == marker
    shot(page, "dashboard-live-unhealthy")
    result = plane.cluster.ctl("action", "run", "billing-bridge", "set-health", "--payload", '{"status":"UP"}')
    assert result.returncode == 0, result.stderr
    wait(page, "HEALTHY 2 again", lambda d: count(d, "service", "HEALTHY") == "2")


def test_dashboard_at_phone_width_in_the_dark_theme(plane: Plane, page: Any) -> None:
    open_console(page, plane.owner)
    page.execute_script("localStorage.setItem('capsule.theme', 'dark')")
    viewport(page, 390, 844, mobile=True)
    page.refresh()
    wait(page, "HEALTHY 2", lambda d: count(d, "service", "HEALTHY") == "2")
    assert page.execute_script("return document.documentElement.dataset.theme") == "dark"
    # Nothing wider than the screen but the tables' own scrolling boxes.
    assert page.execute_script("return document.documentElement.scrollWidth <= window.innerWidth + 1")
    shot(page, "dashboard-phone-dark")
    page.execute_script("localStorage.removeItem('capsule.theme')")


def test_services_list_filters_on_the_server_and_shows_redacted_detail(plane: Plane, page: Any) -> None:
    open_console(page, plane.owner, "#/services")
    wait(page, "both services listed", lambda d: {r.get_attribute("data-service") for r in css(d, "#services-results tr[data-service]")}
         == {"billing-bridge", "billing-worker"})
    assert "served in" in text_of(page, ".pager")
    shot(page, "services")
    search = css(page, 'input[name="prefix"]')[0]
    search.send_keys("billing-b", Keys.ENTER)
    wait(page, "the search result", lambda d: [r.get_attribute("data-service") for r in css(d, "#services-results tr[data-service]")]
         == ["billing-bridge"])
    css(page, 'a[href="#/services/billing-bridge"]')[0].click()
    wait(page, "the detail page", lambda d: css(d, '[data-action="rotate-credentials"]'))
    body = text_of(page, "main")
    assert "secretRef env:BILLING_API_KEY" in body
    assert "demo-upstream-token-value" not in body  # health details are redacted by the aggregator
    assert "queue drained" in body
    assert css(page, '[data-run="rotate-credentials"]'), "an owner sees the Run buttons"
    shot(page, "service-detail")


def test_an_action_run_through_the_form_with_confirmation_ends_succeeded(plane: Plane, page: Any) -> None:
    open_console(page, plane.owner, "#/services/billing-bridge")
    wait(page, "the Run button", lambda d: css(d, '[data-run="rotate-credentials"]'))
    css(page, '[data-run="rotate-credentials"]')[0].click()
    wait(page, "the form", lambda d: css(d, 'input[name="$.reason"]'))
    assert "HIGH" in text_of(page, "main").upper()
    css(page, 'input[name="$.reason"]')[0].send_keys("quarterly rotation")
    css(page, "#run-submit")[0].click()
    wait(page, "the confirmation step", lambda d: css(d, "#confirm-run"))
    shot(page, "action-confirm")
    css(page, "#confirm-run")[0].click()
    wait(page, "SUCCEEDED on the page", lambda d: css(d, '#progress[data-status="SUCCEEDED"]'))
    assert "credentials rotated" in text_of(page, "#progress")
    command_id = css(page, '#progress a[href^="#/commands/"]')[0].text
    assert plane.cluster.command(command_id)["status"] == "SUCCEEDED"
    shot(page, "action-succeeded")


def test_a_payload_that_fails_the_schema_shows_the_failing_field(plane: Plane, page: Any) -> None:
    open_console(page, plane.owner, "#/services/billing-bridge/run/rotate-credentials")
    field = wait(page, "the form", lambda d: css(d, 'input[name="$.reason"]'))[0]
    field.send_keys("ab")
    css(page, "#run-submit")[0].click()
    wait(page, "the field's message", lambda d: "must be at least 3 characters" in text_of(d, '[data-path="$.reason"] .field-message'))
    message = text_of(page, '[data-path="$.reason"] .field-message')
    assert message == "$.reason: must be at least 3 characters"
    assert page.switch_to.active_element.get_attribute("name") == "$.reason", "focus moves to the failing field"
    assert not css(page, "#confirm-run") and not css(page, "#progress[data-status]"), "nothing is created"
    # The broker says exactly the same for the same payload.
    refused = plane.cluster.ctl("action", "run", "billing-bridge", "rotate-credentials", "--confirm", "--payload", '{"reason":"ab"}')
    assert refused.returncode != 0 and message in refused.stderr, refused.stderr
    shot(page, "action-invalid")
    # The JSON editor goes to the broker's own check too: an extra property on set-health.
    open_console(page, plane.owner, "#/services/billing-bridge/run/set-health")
    wait(page, "the form", lambda d: css(d, "#toggle-json"))
    css(page, "#toggle-json")[0].click()
    box = css(page, "#payload-json")[0]
    box.clear()
    box.send_keys('{"status": "UP", "colour": "blue"}')
    css(page, "#run-submit")[0].click()
    wait(page, "the JSON field's message", lambda d: "$.colour: is not an allowed property" in text_of(d, "#payload-json-msg"))


def test_a_viewer_sees_no_action_button_and_a_forged_request_is_refused_and_audited(plane: Plane, page: Any) -> None:
    viewer = plane.viewer
    open_console(page, viewer, "#/services/billing-bridge")
    wait(page, "the actions", lambda d: css(d, '[data-action="rotate-credentials"]'))
    assert "viewer" in text_of(page, "#who")
    assert not css(page, "[data-run]"), "a viewer gets no Run button"
    shot(page, "viewer-service")
    for route, selector in (("#/agents", "#agents-results tr[data-agent]"), ("#/tokens", "#tokens-results table"),
                            ("#/operators", "#operators-results tr[data-operator]")):
        open_console(page, viewer, route)
        wait(page, route, lambda d, s=selector: css(d, s))
        assert not css(page, "[data-change], [data-revoke], [data-remove], #token-form, #operator-form"), route
    # The same request the owner's page sends, straight to the API with the viewer's session cookie.
    cookie = page.get_cookie(f"capsule_console_{viewer.port}")
    assert cookie and cookie["httpOnly"]
    status, _, body = viewer.request("POST", "/api/broker/command.create",
                                     {"service": "billing-bridge", "action": "flush-cache", "payload": {}},
                                     headers={"Content-Type": "application/json", "X-Capsule-Console": "1",
                                              "Origin": viewer.origin, "Cookie": f"{cookie['name']}={cookie['value']}"},
                                     cookie=False)
    answer = json.loads(body)
    assert status == 403 and answer["error"]["code"] == "forbidden", answer
    plane.cluster.wait_for("operator.denied in the audit trail", lambda: any(
        event["actor"] == "operator:viewer-vic" and event["subject"] == "broker:command.create"
        for event in plane.cluster.audit(action="operator.denied")))


def test_the_audit_page_filters_tails_and_exports(plane: Plane, page: Any) -> None:
    open_console(page, plane.owner, "#/audit")
    wait(page, "audit rows", lambda d: css(d, "#audit-results tr[data-action]"))
    actions = css(page, 'input[name="action"]')[0]
    actions.send_keys("command.*", Keys.ENTER)
    wait(page, "only command events", lambda d: (rows := [r.get_attribute("data-action") for r in css(d, "#audit-results tr[data-action]")])
         and all(a.startswith("command.") for a in rows) and "command.succeeded" in rows)
    shot(page, "audit")
    # The live tail: a new command's events appear without a reload.
    css(page, "#audit-live")[0].click()
    wait(page, "the tail", lambda d: "live" in text_of(d, ".page-head .live"))
    newest = max(int(r.get_attribute("data-id")) for r in css(page, "#audit-results tr[data-id]"))
    assert plane.cluster.ctl("action", "run", "billing-bridge", "flush-cache").returncode == 0
    wait(page, "the new command in the tail", lambda d: any(
        int(r.get_attribute("data-id")) > newest and r.get_attribute("data-action") == "command.succeeded"
        for r in css(d, "#audit-results tr[data-id]")))
    # Export: the same filter, as CSV and JSON.
    href = css(page, "#export-csv")[0].get_attribute("href")
    status, headers, body = plane.owner.request("GET", href.replace(plane.owner.origin, ""))
    assert status == 200 and headers["Content-Type"].startswith("text/csv") and "attachment" in headers["Content-Disposition"]
    lines = body.decode().splitlines()
    assert lines[0] == "id,at,publisher,seq,action,subject,actor,result,from,to,reason,details"
    assert len(lines) > 2 and all(line.split(",")[4].startswith("command.") for line in lines[1:])
    status, _, body = plane.owner.request("GET", css(page, "#export-json")[0].get_attribute("href").replace(plane.owner.origin, ""))
    events = json.loads(body)
    assert status == 200 and events and all(event["action"].startswith("command.") for event in events)
    # Another filter: refusals only.
    open_console(page, plane.owner, "#/audit?action=operator.denied")
    wait(page, "the refusal", lambda d: (rows := [r.get_attribute("data-action") for r in css(d, "#audit-results tr[data-action]")])
         and set(rows) == {"operator.denied"})


def test_commands_can_be_filtered_cancelled_and_retried(plane: Plane, page: Any) -> None:
    result = plane.cluster.ctl("action", "run", "billing-bridge", "slow-task", "--payload", '{"ms": 60000}', "--no-wait", "--json")
    assert result.returncode == 0, result.stderr
    command_id = json.loads(result.stdout)["id"]
    open_console(page, plane.owner, "#/commands?status=RUNNING")
    wait(page, "the running command", lambda d: css(d, f'#commands-results tr[data-command="{command_id}"]'))
    css(page, f'a[href="#/commands/{command_id}"]')[0].click()
    wait(page, "the cancel button", lambda d: css(d, "#cancel-command"))
    css(page, "#cancel-command")[0].click()
    wait(page, "the dialog", lambda d: css(d, "dialog[open] #dialog-confirm"))
    css(page, "#dialog-confirm")[0].click()
    wait(page, "CANCELLED", lambda d: css(d, '#command-status[data-status="CANCELLED"]'))
    wait(page, "the timeline", lambda d: "command.cancelled" in text_of(d, "main"))
    shot(page, "command-detail")
    css(page, "#retry-command")[0].click()
    wait(page, "the retried command", lambda d: command_id not in d.current_url and css(d, "#command-status"))
    retried = page.current_url.rsplit("/", 1)[1]
    assert plane.cluster.command(retried)["retryOf"] == command_id
    css(page, "#cancel-command")[0].click()
    wait(page, "the dialog", lambda d: css(d, "dialog[open] #dialog-confirm"))
    css(page, "#dialog-confirm")[0].click()
    wait(page, "CANCELLED", lambda d: css(d, '#command-status[data-status="CANCELLED"]'))


def test_tokens_are_shown_once_and_agents_change_only_after_confirmation(plane: Plane, page: Any) -> None:
    open_console(page, plane.owner, "#/tokens")
    wait(page, "the token form", lambda d: css(d, "#token-form"))
    css(page, '#token-form input[name="name"]')[0].send_keys("console-made")
    css(page, '#token-form button[type="submit"]')[0].click()
    token = wait(page, "the one-time token", lambda d: css(d, "#token-value"))[0].text
    assert token.startswith("cap_")
    wait(page, "the token in the list", lambda d: css(d, '#tokens-results tr[data-token="console-made"][data-status="ACTIVE"]'))
    shot(page, "tokens")
    page.refresh()
    wait(page, "the list again", lambda d: css(d, '#tokens-results tr[data-token="console-made"]'))
    assert token not in text_of(page, "main"), "the raw token is never shown again"
    css(page, '[data-revoke="console-made"]')[0].click()
    wait(page, "the dialog", lambda d: css(d, "dialog[open] #dialog-confirm"))
    css(page, "#dialog-confirm")[0].click()
    wait(page, "REVOKED", lambda d: css(d, '#tokens-results tr[data-token="console-made"][data-status="REVOKED"]'))

    # Disable the Python agent: a dialog first, then its service reads OFFLINE; enable it again.
    open_console(page, plane.owner, "#/agents")
    wait(page, "the agents", lambda d: css(d, '[data-change="disable"][data-agent="demo-python"]'))
    css(page, '[data-change="disable"][data-agent="demo-python"]')[0].click()
    wait(page, "the dialog", lambda d: css(d, "dialog[open] #dialog-confirm"))
    shot(page, "agent-disable-confirm")
    css(page, "#dialog-cancel")[0].click()
    assert plane.cluster.status_of("billing-worker") == "HEALTHY", "Back changes nothing"
    css(page, '[data-change="disable"][data-agent="demo-python"]')[0].click()
    wait(page, "the dialog", lambda d: css(d, "dialog[open] #dialog-confirm"))
    css(page, "#dialog-confirm")[0].click()
    plane.cluster.wait_for("billing-worker OFFLINE", lambda: plane.cluster.status_of("billing-worker") == "OFFLINE")
    page.refresh()
    wait(page, "the enable button", lambda d: css(d, '[data-change="enable"][data-agent="demo-python"]'))
    shot(page, "agents")
    css(page, '[data-change="enable"][data-agent="demo-python"]')[0].click()
    wait(page, "the dialog", lambda d: css(d, "dialog[open] #dialog-confirm"))
    css(page, "#dialog-confirm")[0].click()
    plane.cluster.wait_for("billing-worker HEALTHY again", lambda: plane.cluster.status_of("billing-worker") == "HEALTHY", seconds=40)


def test_an_owner_adds_an_operator_and_gets_the_key_file_once(plane: Plane, page: Any) -> None:
    open_console(page, plane.owner, "#/operators")
    wait(page, "the operator form", lambda d: css(d, "#operator-form"))
    css(page, '#operator-form input[name="name"]')[0].send_keys("olga")
    css(page, '#operator-form select[name="role"] option[value="operator"]')[0].click()
    css(page, '#operator-form button[type="submit"]')[0].click()
    wait(page, "the key file link", lambda d: css(d, '#operator-created a[download="olga.key"]'))
    wait(page, "olga in the list", lambda d: css(d, '#operators-results tr[data-operator="olga"]'))
    assert any(row["name"] == "olga" and row["role"] == "operator" for row in plane.cluster.ctl_json("operator", "list") or [])
    shot(page, "operators")
