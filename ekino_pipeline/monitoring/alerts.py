"""Alerts: to the run log always, and to a Slack- or Telegram-style webhook when one is configured."""

import json
import logging

import dagster as dg
import requests
from pydantic import Field

from ekino_pipeline.display import almaty_time

log = logging.getLogger(__name__)


class AlertNotifier(dg.ConfigurableResource):
    """Posts `{"text": ...}` to `webhook_url` (`EKINO_ALERT_WEBHOOK_URL`). Webhook URLs embed a secret,
    so the URL is never logged, and a failed post is logged without it and never fails the caller."""

    webhook_url: str | None = None
    timeout_seconds: float = 5.0

    def send(self, text: str, logger=None) -> bool:
        (logger or log).warning(text)
        if not self.webhook_url:
            return False
        try:
            response = requests.post(self.webhook_url, json={"text": text}, timeout=self.timeout_seconds)
            response.raise_for_status()
            return True
        except requests.RequestException as exc:
            (logger or log).error(f"alert webhook post failed: {type(exc).__name__}")
            return False


class CinemaAlert(dg.Config):
    cinema_id: str
    state: str
    since: str | None = None
    days: int = 0
    detail: str = ""


class CinemaAlertsConfig(dg.Config):
    flagged: list[CinemaAlert] = Field(default_factory=list)
    recovered: list[str] = Field(default_factory=list)


def alert_text(flagged: list[CinemaAlert], recovered: list[str]) -> str:
    from ekino_pipeline.monitoring.reporting import DESCRIPTIONS

    lines = []
    if flagged:
        lines.append(f"e-Kino: {len(flagged)} cinema(s) stopped reporting")
        for alert in flagged:
            since = f" since {almaty_time(alert.since)}" if alert.since else ""
            lines.append(
                f"- {alert.cinema_id}: {DESCRIPTIONS.get(alert.state, alert.state)}{since} ({alert.detail})"
            )
    if recovered:
        lines.append(f"e-Kino: {len(recovered)} cinema(s) reporting again: {', '.join(recovered)}")
    return "\n".join(lines)


@dg.op(description="Logs and posts the silent-cinema sensor's new episodes and recoveries.")
def notify_cinema_alerts(context: dg.OpExecutionContext, config: CinemaAlertsConfig, notifier: AlertNotifier):
    text = alert_text(config.flagged, config.recovered)
    delivered = notifier.send(text, context.log)
    context.add_output_metadata(
        {
            "flagged": dg.MetadataValue.md(
                "\n".join(f"- {a.cinema_id}: {a.state} {a.detail}" for a in config.flagged) or "none"
            ),
            "recovered": json.dumps(config.recovered),
            "webhook_delivered": delivered,
        }
    )


@dg.job(description="One run per alert: new silent cinemas and recoveries, as the sensor found them.")
def cinema_alerts_job():
    notify_cinema_alerts()
