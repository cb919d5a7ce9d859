"""Alerts reach the logs and a webhook (a real local HTTP server standing in for Slack or Telegram)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import dagster as dg
import pytest

from ekino_pipeline.monitoring.alerts import AlertNotifier, cinema_alerts_job
from ekino_pipeline.monitoring.sensors import run_failure_alerts


@pytest.fixture
def webhook():
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/hooks/secret-part", received
    finally:
        server.shutdown()


def test_the_alerts_job_posts_new_silent_cinemas_and_recoveries_to_the_webhook(webhook):
    url, received = webhook
    result = cinema_alerts_job.execute_in_process(
        run_config={
            "ops": {
                "notify_cinema_alerts": {
                    "config": {
                        "flagged": [{"cinema_id": "ALA-0001", "state": "no_sales", "detail": "6 sessions"}],
                        "recovered": ["SHY-0001"],
                    }
                }
            }
        },
        resources={"notifier": AlertNotifier(webhook_url=url)},
    )
    assert result.success
    [message] = received
    assert "ALA-0001" in message["text"] and "nothing sold" in message["text"]
    assert "reporting again: SHY-0001" in message["text"]


def test_a_webhook_that_fails_does_not_fail_the_alert_and_its_url_is_not_logged(caplog):
    notifier = AlertNotifier(webhook_url="http://127.0.0.1:9/hooks/T000/B000/xyzSECRET", timeout_seconds=1)
    assert notifier.send("e-Kino: test") is False
    assert "xyzSECRET" not in caplog.text and "webhook post failed" in caplog.text


@dg.op
def _breaks():
    raise RuntimeError("the warehouse is locked")


@dg.job
def _failing_job():
    _breaks()


def test_a_failed_run_is_announced_with_its_job_and_reason(webhook):
    url, received = webhook
    instance = dg.DagsterInstance.ephemeral()
    result = _failing_job.execute_in_process(instance=instance, raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "PIPELINE_FAILURE")
    context = dg.build_run_status_sensor_context(
        sensor_name="run_failure_alerts",
        dagster_instance=instance,
        dagster_run=result.dagster_run,
        dagster_event=failure,
        resources={"notifier": AlertNotifier(webhook_url=url)},
    ).for_run_failure()
    run_failure_alerts(context)
    [message] = received
    assert "_failing_job" in message["text"] and result.run_id[:8] in message["text"]
