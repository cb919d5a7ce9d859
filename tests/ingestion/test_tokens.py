"""Where tokens go: the secrets loader's errors name the source and the entry's position, never a key
or a value; a pull sends a token only to its cinema's own https (or loopback) exchange."""

from __future__ import annotations

import json
import logging
from datetime import date

import dagster as dg
import pytest

from ekino_pipeline.ingestion import assets as ingestion_assets
from ekino_pipeline.ingestion.landing import LandingZone
from ekino_pipeline.ingestion.resources import ExchangeResource, TokenError
from ekino_pipeline.ingestion.workers import PullPlan, PullTask
from tests.ingestion.helpers import materialize

TOKEN = "tok-4b1d9e7a2c6f08e3-secret"
# A token pasted where a cinema id belongs, as a hurried operator swapping key and value would.
TOKEN_AS_KEY = "9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b2a1f0e"


def _load(tmp_path, content: str) -> tuple[str, TokenError]:
    path = tmp_path / "secrets.json"
    path.write_text(content)
    with pytest.raises(TokenError) as caught:
        ExchangeResource(secrets_file=str(path)).load_tokens()
    return str(path), caught.value


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        # `42` was a TypeError from dict.update.
        ("42", "must hold a JSON object of cinema id to token, not a number"),
        ('["ALA-0001", "tok"]', "must hold a JSON object of cinema id to token, not a list"),
        ('"ALA-0001"', "must hold a JSON object of cinema id to token, not a string"),
        ("null", "must hold a JSON object of cinema id to token, not null"),
        ('{"ALA-0001": "t1",\n "ALA-0002": oops}', "is not valid JSON at line 2 column 14"),
        (
            '{"ALA-0001": "t1", "ALA-0002": 7}',
            ", entry 2: the token of cinema ALA-0002 is not a non-empty string",
        ),
        (
            '{"ALA-0001": "t1", "ALA-0002": ""}',
            ", entry 2: the token of cinema ALA-0002 is not a non-empty string",
        ),
        ('{"ALA-0001": "t1", "ALA-0001": "t2"}', ", entry 2: cinema ALA-0001 is listed a second time"),
    ],
)
def test_a_secrets_file_that_is_not_an_object_of_tokens_is_named_with_the_entry_at_fault(
    tmp_path, content, expected
):
    path, error = _load(tmp_path, content)
    assert str(error).startswith(f"secrets file {path}")
    assert expected in str(error)
    assert "t1" not in str(error) and "t2" not in str(error)


def test_a_key_that_is_not_a_cinema_id_is_named_by_position_never_quoted(tmp_path):
    # The error quoted the key, and so put a token into the run's logs and the event store.
    content = json.dumps({"ALA-0001": TOKEN, TOKEN_AS_KEY: "ALA-0002", "ALA-0003": "t3"})
    path, error = _load(tmp_path, content)
    assert str(error) == (
        f"secrets file {path}, entry 2: the key is not a cinema id like ALA-0001 "
        "(not shown: it could be a token)"
    )
    assert error.__cause__ is None and error.__context__ is None


def test_the_tokens_variable_is_named_as_the_source_of_its_errors():
    with pytest.raises(TokenError) as caught:
        ExchangeResource(tokens_json=json.dumps({TOKEN_AS_KEY: TOKEN})).load_tokens()
    assert str(caught.value).startswith("EKINO_CINEMA_TOKENS, entry 1: the key is not a cinema id")
    assert TOKEN not in str(caught.value) and TOKEN_AS_KEY not in str(caught.value)


def test_a_missing_or_unreadable_secrets_file_is_named(tmp_path):
    with pytest.raises(TokenError, match=f"^secrets file {tmp_path / 'nope.json'} does not exist$"):
        ExchangeResource(secrets_file=str(tmp_path / "nope.json")).load_tokens()
    with pytest.raises(TokenError, match=f"^secrets file {tmp_path} cannot be read: Is a directory$"):
        ExchangeResource(secrets_file=str(tmp_path)).load_tokens()


def test_good_secrets_from_the_file_and_the_variable_are_merged(tmp_path):
    path = tmp_path / "secrets.json"
    path.write_text(json.dumps({"ALA-0001": "t1", "ALA-0002": "t2"}))
    tokens = ExchangeResource(secrets_file=str(path), tokens_json='{"ALA-0002": "t2b"}').load_tokens()
    assert tokens == {"ALA-0001": "t1", "ALA-0002": "t2b"}


class _Collect(logging.Handler):
    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record):
        self.lines.append(self.format(record))


def test_a_token_shaped_key_never_reaches_a_log_of_a_real_run(tmp_path, monkeypatch):
    secrets = tmp_path / "secrets.json"
    secrets.write_text(json.dumps({"ALA-0001": TOKEN, TOKEN_AS_KEY: "ALA-0002"}))
    env = {
        "EKINO_HOME": str(tmp_path / "home"),
        "EKINO_EXCHANGE_BASE_URL": "http://127.0.0.1:9",
        "EKINO_SECRETS_FILE": str(secrets),
        "EKINO_START_DATE": "2024-01-01",
    }
    instance = dg.DagsterInstance.ephemeral()
    collect = _Collect()
    root = logging.getLogger()
    root.addHandler(collect)
    previous = root.level
    root.setLevel(logging.DEBUG)
    try:
        result = materialize(
            monkeypatch,
            env,
            "2024-03-05",
            assets=[ingestion_assets.sessions],
            cinemas=["ALA-0001"],
            instance=instance,
        )
    finally:
        root.removeHandler(collect)
        root.setLevel(previous)
    assert not result.success
    failures = [e.step_failure_data.error for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert len(failures) == 1
    assert (
        failures[0]
        .message.strip()
        .endswith(
            f"Failure: secrets file {secrets}, entry 2: the key is not a cinema id like ALA-0001 "
            "(not shown: it could be a token)"
        )
    )
    haystack = [*collect.lines]
    for entry in instance.all_logs(result.run_id):
        haystack += [entry.user_message or "", repr(entry.dagster_event)]
    text = "\n".join(haystack)
    assert "entry 2" in text  # the haystack does hold the failure
    assert TOKEN_AS_KEY not in text
    assert TOKEN not in text


@pytest.mark.parametrize("allowed", [False, True])
def test_a_cinema_registered_at_a_plain_http_address_fails_alone_with_one_line(tmp_path, caplog, allowed):
    plan = PullPlan(
        dataset="sessions",
        landing_root=str(tmp_path / "landing"),
        client_options={**ExchangeResource(allow_plain_http=allowed).client_options(), "retries": 0},
        tokens={"ALA-0001": TOKEN},
    )
    # Port 9 (discard) on a name that does not resolve: allowed, the pull fails on the connection.
    task = PullTask("ALA-0001", "http://cinema.invalid:9/cinemas/ALA-0001", date(2024, 3, 5))
    manifest = plan.pull(task, LandingZone(tmp_path / "landing"))
    assert manifest["status"] == "failed"
    if allowed:
        assert manifest["error_type"] == "ExchangeConnectionError"
        return
    assert manifest["error_type"] == "ExchangeConfigError"
    assert manifest["error"] == (
        "ALA-0001: refusing plain http to http://cinema.invalid:9: its token would cross the network in "
        "clear text (use https, or set EKINO_ALLOW_PLAIN_HTTP=1 on purpose)"
    )
    assert manifest["attempts"] == 1
    assert "unexpected error" not in caplog.text
