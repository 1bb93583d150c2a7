"""``witnessbox telegram login``: the session string is printed once and never logged."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest

from collectors.telegram import login
from kernel.errors import ConfigError, InputError
from preservation.cli.main import main

SESSION = "1BQANOTREAL-session-string-SECRET=="


class FakeClient:
    """Stands in for TelegramClient: asks for phone, code and password like ``start`` does."""

    instances: list[FakeClient] = []

    def __init__(self, session, api_id, api_hash):
        self.api_id, self.api_hash = api_id, api_hash
        self.answers: dict[str, str] = {}
        self.session = SimpleNamespace(save=lambda: SESSION)
        self.disconnected = False
        FakeClient.instances.append(self)

    async def start(self, phone, code_callback, password):
        self.answers = {"phone": phone(), "code": code_callback(), "password": password()}
        if self.answers["code"] != "12345":
            raise RuntimeError(f"PhoneCodeInvalidError {self.api_hash}")

    async def get_me(self):
        return SimpleNamespace(username="analyst_account", id=99)

    async def disconnect(self):
        self.disconnected = True


@pytest.fixture(autouse=True)
def fake_client(monkeypatch):
    FakeClient.instances.clear()
    monkeypatch.setattr(login, "_default_client", FakeClient)


def test_login_prints_the_session_once_and_logs_nothing(wb_env, monkeypatch, capsys, caplog):
    monkeypatch.setenv("WITNESSBOX_TELEGRAM_API_HASH", "abcdefabcdefabcdefabcdefabcdefab")
    answers = iter(["+15550001111", "12345"])
    monkeypatch.setattr("builtins.input", lambda prompt="": next(answers))
    monkeypatch.setattr("getpass.getpass", lambda prompt="": "two-step-pass")
    with caplog.at_level(logging.DEBUG):
        code = main(["telegram", "login", "--api-id", "777"])
    out, err = capsys.readouterr()
    assert code == 0
    assert out.strip() == SESSION
    assert out.count(SESSION) == 1 and SESSION not in err
    assert "logged in as @analyst_account" in err
    assert SESSION not in caplog.text
    client = FakeClient.instances[0]
    assert client.api_id == 777 and client.api_hash == "abcdefabcdefabcdefabcdefabcdefab"
    assert client.answers == {"phone": "+15550001111", "code": "12345", "password": "two-step-pass"}
    assert client.disconnected


def test_failed_login_hides_the_api_hash(wb_env, monkeypatch):
    prompts = login.Prompts(text=lambda p: "00000", secret=lambda p: "x")
    with pytest.raises(ConfigError) as caught:
        login.create_session("777", "HASHSECRET", phone="+1555", prompts=prompts)
    assert "HASHSECRET" not in str(caught.value)
    assert caught.value.__cause__ is None
    with pytest.raises(InputError):
        login.create_session("not-a-number", "h")


def test_bad_input_exits_2(wb_env, monkeypatch, capsys):
    monkeypatch.setattr("getpass.getpass", lambda prompt="": "")
    assert main(["telegram", "login", "--api-id", "777"]) == 2
    assert "api hash is needed" in capsys.readouterr().err
