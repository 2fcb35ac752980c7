"""One pluggable notifier for everything the pipeline tells people.

What is sent (`Notification.kind`):
- `quarantine`: a partner's file was refused; to that partner's contact (`EXPLOSION_MONITOR_CONTACT_<FEED>`,
  named by `partner_contact_env` in the contract), with the first reason and where the report lies;
- `partner_late`: `dbt source freshness` says a feed is late (warn or error); to the partner's contact;
- `publication_failed`: the quality gate blocked publication, or publishing failed; to the engineers;
- `task_failed` / `run_failed`: any other failure, from the failure callback; to the engineers.

The channel comes from `EXPLOSION_MONITOR_NOTIFIER`:
- `log` (default): a WARNING line on the `explosion_monitor.notify` logger (the Airflow task log);
- `email`: through Airflow's SMTP provider (`SmtpHook`, connection `EXPLOSION_MONITOR_SMTP_CONN_ID`,
  default `smtp_default`, e.g. `AIRFLOW_CONN_SMTP_DEFAULT=smtp://mail:25?from_email=pipeline@example.nl`);
- `webhook`: an HTTP POST of the notification as JSON to `EXPLOSION_MONITOR_WEBHOOK_URL` (Teams/Slack
  bridges, Alertmanager, ...);
- `package.module:Class`: any class with a `name` and a `send(notification)` method.

Engineers are `EXPLOSION_MONITOR_ALERT_EMAIL` (comma-separated). A partner without a configured contact is
notified through the engineers, and the message says so. Every notification is recorded in
`ops.notifications` (best effort). `notify()` never raises: a broken channel falls back to the log.
"""

from __future__ import annotations

import html
import importlib
import json
import logging
import urllib.request
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from explosion_monitor.config import get_settings

log = logging.getLogger("explosion_monitor.notify")

KINDS = ("quarantine", "partner_late", "publication_failed", "task_failed", "run_failed")
SUBJECT_MAX = 200


def printable(text: object) -> str:
    """Text from a partner (a file name, a reason quoting a value) on one line: every character that is not
    printable (newlines, carriage returns, escapes, bidi overrides, line separators) becomes a visible escape such
    as \\n, so it can neither break a mail header nor forge lines in a message or a log."""
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in str(text))


@dataclass(frozen=True)
class Notification:
    kind: str
    subject: str
    body: str
    recipients: tuple[str, ...] = ()
    feed: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"Unknown notification kind {self.kind!r}; the kinds are {', '.join(KINDS)}.")
        # a subject is one header line on every channel, whatever a partner put in a file name
        subject = printable(self.subject)
        if len(subject) > SUBJECT_MAX:
            subject = subject[: SUBJECT_MAX - 3] + "..."
        object.__setattr__(self, "subject", subject)


class Notifier(Protocol):
    name: str

    def send(self, notification: Notification) -> None: ...


class LogNotifier:
    name = "log"

    def send(self, notification: Notification) -> None:
        to = ", ".join(notification.recipients) or "(nobody configured)"
        log.warning("[%s] to %s: %s\n%s", notification.kind, to, notification.subject, notification.body)


class EmailNotifier:
    """E-mail through Airflow's SMTP provider."""

    name = "email"

    def __init__(self, conn_id: str | None = None) -> None:
        self.conn_id = conn_id or get_settings().smtp_conn_id or "smtp_default"

    def send(self, notification: Notification) -> None:
        from airflow.providers.smtp.hooks.smtp import SmtpHook

        if not notification.recipients:
            raise ValueError("no recipients: set EXPLOSION_MONITOR_ALERT_EMAIL or the partner's contact")
        body = "<pre>" + html.escape(notification.body) + "</pre>"
        with SmtpHook(smtp_conn_id=self.conn_id) as hook:
            hook.send_email_smtp(to=list(notification.recipients), subject=notification.subject, html_content=body)


class WebhookNotifier:
    """POST the notification as JSON."""

    name = "webhook"

    def __init__(self, url: str | None = None, timeout: float = 10.0) -> None:
        self.url = url or get_settings().webhook_url or ""
        if not self.url.startswith(("http://", "https://")):
            raise ValueError("EXPLOSION_MONITOR_WEBHOOK_URL must be an http:// or https:// URL.")
        self.timeout = timeout

    def send(self, notification: Notification) -> None:
        data = json.dumps(
            {"text": f"{notification.subject}\n\n{notification.body}", **asdict(notification)}, default=str
        ).encode()
        request = urllib.request.Request(
            self.url, data=data, method="POST", headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=self.timeout) as response:
            if response.status >= 300:
                raise OSError(f"the webhook answered HTTP {response.status}")


def get_notifier(name: str | None = None) -> Notifier:
    """The configured notifier (`EXPLOSION_MONITOR_NOTIFIER`: log, email, webhook or module:Class)."""
    choice = (name or get_settings().notifier or "log").strip()
    if choice == "log":
        return LogNotifier()
    if choice == "email":
        return EmailNotifier()
    if choice == "webhook":
        return WebhookNotifier()
    if ":" in choice:
        module, _, attr = choice.partition(":")
        return getattr(importlib.import_module(module), attr)()
    raise ValueError(f"EXPLOSION_MONITOR_NOTIFIER must be log, email, webhook or module:Class, not {choice!r}.")


def _split(value: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (value or "").split(",") if part.strip())


def engineers() -> tuple[str, ...]:
    return _split(get_settings().alert_email)


def partner_contact(feed: str) -> tuple[str, ...]:
    """The partner's contact from the variable the contract names (empty when unset)."""
    from explosion_monitor.contracts import get_contract

    env = get_contract(feed).partner_contact_env
    return _split(dict(get_settings().partner_contacts).get(env)) if env else ()


def to_partner(feed: str) -> tuple[tuple[str, ...], str]:
    """(recipients, note): the partner's contact, or the engineers with a note when none is configured."""
    contact = partner_contact(feed)
    if contact:
        return contact, ""
    from explosion_monitor.contracts import get_contract

    env = get_contract(feed).partner_contact_env or f"EXPLOSION_MONITOR_CONTACT_{feed.upper()}"
    return engineers(), f"\n\n(No contact is configured for {feed}: set {env} to reach the partner directly.)"


def notify(notification: Notification, *, record: bool = True, notifier: Notifier | None = None) -> bool:
    """Send and record one notification; True when the chosen channel delivered it. Never raises."""
    error: str | None = None
    channel = "log"
    try:
        chosen = notifier or get_notifier()
        channel = chosen.name
        chosen.send(notification)
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        log.error("Notification via %s failed (%s); logging it instead.", channel, error)
        LogNotifier().send(notification)
    if record:
        _record(notification, channel, error)
    return error is None


def _record(notification: Notification, channel: str, error: str | None) -> None:
    try:
        from explosion_monitor.orchestration import store

        with store.connect() as conn:
            store.record_notification(
                conn,
                kind=notification.kind,
                feed=notification.feed,
                recipients=notification.recipients,
                subject=notification.subject,
                body=notification.body,
                channel=channel,
                delivered=error is None,
                error=error,
            )
    except Exception as exc:
        log.warning("Could not record the notification in ops.notifications: %s", exc)


# --- the messages ----------------------------------------------------------------------------------------


def quarantined(feed: str, outcome: Any) -> Notification:
    """To the partner: their file was refused, why, and where the report is."""
    recipients, note = to_partner(feed)
    # the name, the reason and the URLs (which hold the name) come from the partner: one line each, escaped
    name, reason = printable(outcome.name), printable(outcome.message)
    where = printable(outcome.report_url or outcome.final_url)
    subject = f"Bestand geweigerd / file refused: {name} ({feed})"
    body = (
        f"Uw bestand {name} is niet verwerkt: {outcome.errors} fout(en). "
        f"Het rapport staat naast het bestand: {where}.\n"
        f"Your file {name} was not loaded: {outcome.errors} error(s). First: {reason}. "
        f"The report lies beside the file: {where}. "
        f"Please correct the file and drop it again.{note}"
    )
    return Notification(
        "quarantine", subject, body, recipients, feed, {"file_id": outcome.file_id, "report_url": outcome.report_url}
    )


def partner_late(feed: str, source: str, status: str, age_s: float | None, max_loaded_at: Any) -> Notification:
    recipients, note = to_partner(feed)
    days = f"{age_s / 86400:.0f} days" if age_s is not None else "an unknown time"
    subject = f"Levering te laat / delivery late: {feed}"
    body = (
        f"De laatste levering van {feed} is {days} oud (status {status}). "
        f"The newest delivery of {feed} ({source}) was loaded {days} ago (freshness {status}; "
        f"newest load {max_loaded_at}). Please send the next extract.{note}"
    )
    return Notification("partner_late", subject, body, recipients, feed, {"source": source, "status": status})


def publication_failed(run_id: str | None, reason: str) -> Notification:
    return Notification(
        "publication_failed",
        f"Publicatie mislukt / publication failed (run {run_id})",
        f"The marts were not published; the published figures are unchanged. {reason}",
        engineers(),
        details={"run_id": run_id},
    )
