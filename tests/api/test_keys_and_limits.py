"""API keys (issued, listed and revoked by `ekino api-keys`, kept hashed), roles and rate limits."""

from __future__ import annotations

import json
import logging

import pytest

from ekino_pipeline.cli import main
from ekino_pipeline.transformation.statements import distributor_id
from tests.api.conftest import serve

ALTYN, AURORA = "Altyn Kino", "Aurora Film Distribution"


@pytest.fixture(scope="module")
def limited(published_exports, tmp_path_factory):
    """A server whose anonymous clients may make 3 requests a minute."""
    served = serve(published_exports, tmp_path_factory.mktemp("limited") / "keys.json", anonymous_rate=3)
    yield served
    served.stop()


def _issue(capsys, *args) -> str:
    assert main(["api-keys", "issue", *args]) == 0
    out, err = capsys.readouterr()
    token = out.strip()
    assert token.startswith("ekino_") and token not in err
    return token


def test_the_command_line_issues_lists_and_revokes_keys_kept_hashed(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("EKINO_HOME", str(tmp_path))
    token = _issue(capsys, "--role", "distributor", "--distributor", ALTYN, "--rate-limit", "30")
    keys_file = tmp_path / "api" / "keys.json"
    assert token not in keys_file.read_text() and keys_file.stat().st_mode & 0o077 == 0
    (stored,) = json.loads(keys_file.read_text())["keys"]
    assert (stored["role"], stored["distributor_id"], stored["rate_per_minute"]) == (
        "distributor", distributor_id(ALTYN), 30,
    )  # fmt: skip
    assert main(["api-keys", "list"]) == 0
    listed = capsys.readouterr().out
    assert stored["key_id"] in listed and "active" in listed and token not in listed
    assert main(["api-keys", "revoke", stored["key_id"]]) == 0
    assert main(["api-keys", "list"]) == 0
    assert "revoked" in capsys.readouterr().out
    # A distributor key names its distributor; a role is one of three.
    assert main(["api-keys", "issue", "--role", "distributor"]) == 2
    assert "names its distributor" in capsys.readouterr().err
    assert main(["api-keys", "revoke", "00000000"]) == 2


def test_a_distributor_reads_its_own_settlement_only_and_the_ministry_reads_all(api):
    altyn = api.keys.issue("distributor", ALTYN)[1]
    ministry = api.keys.issue("ministry")[1]
    public = api.keys.issue("public")[1]
    own = api.get("/v1/settlements", altyn).json()["data"]
    assert [r["distributor"] for r in own] == [ALTYN]
    everyone = api.get("/v1/settlements", ministry).json()["data"]
    assert {r["distributor"] for r in everyone} == {ALTYN, AURORA}
    other = api.get("/v1/settlements", altyn, params={"distributor": distributor_id(AURORA)})
    assert other.status_code == 403 and other.json()["error"]["code"] == "forbidden"
    assert api.get("/v1/settlements", public).status_code == 403
    assert api.get("/v1/settlements").status_code == 401
    # The answer depends on the key: never shared by a cache.
    assert api.get("/v1/settlements", altyn).headers["Cache-Control"].startswith("private")
    # Both can read the public figures.
    assert api.get("/v1/box-office/daily", altyn).status_code == 200


def test_an_unknown_or_revoked_key_is_refused_and_no_answer_or_log_line_holds_it(api, caplog):
    key, token = api.keys.issue("public")
    assert api.get("/v1/national/yearly", token).status_code == 200
    api.keys.revoke(key.key_id)
    with caplog.at_level(logging.INFO, logger="ekino_pipeline.api"):
        revoked = api.get("/v1/national/yearly", token)
        forged = api.get("/v1/national/yearly", token[:-4] + "AAAA")
        pasted = api.get("/v1/national/yearly", params={"key": token, token: "1"})
    assert revoked.status_code == forged.status_code == 401
    assert revoked.json()["error"]["code"] == "bad_key"
    assert pasted.status_code == 400
    secret = token.rsplit("_", 1)[1]
    for response in (revoked, forged, pasted):
        assert secret[:12] not in response.text
    assert caplog.records and all(secret[:12] not in r.getMessage() for r in caplog.records)


def test_a_key_over_its_rate_limit_gets_429_with_retry_after_and_others_go_on(limited):
    token = limited.keys.issue("public", rate_per_minute=2)[1]
    other = limited.keys.issue("public", rate_per_minute=2)[1]
    statuses = [limited.get("/v1/national/yearly", token).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    refused = limited.get("/v1/national/yearly", token)
    assert refused.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(refused.headers["Retry-After"]) <= 30
    assert limited.get("/v1/national/yearly", other).status_code == 200
    # Without a key, a client address has its own (smaller) allowance.
    anonymous = [limited.get("/v1/national/yearly").status_code for _ in range(4)]
    assert anonymous == [200, 200, 200, 429]


def test_a_server_that_requires_keys_refuses_anonymous_requests(published_exports, tmp_path):
    served = serve(published_exports, tmp_path / "keys.json", require_key=True)
    try:
        assert served.get("/v1/national/yearly").status_code == 401
        token = served.keys.issue("public")[1]
        assert served.get("/v1/national/yearly", token).status_code == 200
        assert (
            served.get("/v1/national/yearly", headers={"Authorization": f"Bearer {token}"}).status_code == 200
        )
    finally:
        served.stop()
