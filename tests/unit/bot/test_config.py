from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import load_settings
from memory.errors import ConfigError


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    import os

    for key in list(os.environ):
        if key.startswith("SRE_COPILOT_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)  # no stray .env


def test_defaults_need_nothing():
    s = load_settings()
    assert s.database_url.startswith("sqlite+aiosqlite:///")
    assert s.database_url.endswith("sre-copilot.db")
    assert not s.slack.configured and not s.llm.configured and not s.prometheus.configured


def test_nested_env_vars_and_secrets(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("SRE_COPILOT_PROMETHEUS__BASE_URL", "http://127.0.0.1:9090")
    monkeypatch.setenv("SRE_COPILOT_PROMETHEUS__TIMEOUT_S", "2.5")
    monkeypatch.setenv("SRE_COPILOT_SLACK__BOT_TOKEN", "xoxb-test")
    monkeypatch.setenv("SRE_COPILOT_SLACK__SIGNING_SECRET", "s3cr3t")
    monkeypatch.setenv("SRE_COPILOT_DATABASE__URL", "postgresql+asyncpg://u@db/sre")
    s = load_settings()
    assert s.prometheus.base_url == "http://127.0.0.1:9090"
    assert s.prometheus.timeout_s == 2.5
    assert s.slack.configured
    assert "xoxb-test" not in repr(s.slack)
    assert s.database_url == "postgresql+asyncpg://u@db/sre"


def test_dotenv_file_is_read(tmp_path: Path):
    (tmp_path / ".env").write_text("SRE_COPILOT_WEB__PORT=9999\nSRE_COPILOT_LOG_LEVEL=DEBUG\n")
    s = load_settings()
    assert (s.web.port, s.log_level) == (9999, "DEBUG")


@pytest.mark.parametrize(
    ("var", "value", "expected"),
    [
        (
            "SRE_COPILOT_WEB__PORT",
            "eighty",
            "SRE_COPILOT_WEB__PORT: Input should be a valid integer",
        ),
        (
            "SRE_COPILOT_WEB__PORT",
            "70000",
            "SRE_COPILOT_WEB__PORT: Input should be less than or equal to 65535",
        ),
        (
            "SRE_COPILOT_DATABASE__URL",
            "mysql://x",
            "SRE_COPILOT_DATABASE__URL: expected sqlite+aiosqlite",
        ),
        ("SRE_COPILOT_LOG_LEVEL", "LOUD", "SRE_COPILOT_LOG_LEVEL: Input should be"),
        (
            "SRE_COPILOT_PROMETHEUS__TIMEOUT_S",
            "-1",
            "SRE_COPILOT_PROMETHEUS__TIMEOUT_S: Input should be greater than 0",
        ),
        (
            "SRE_COPILOT_REMEDIATION_WEBHOOKS",
            '{"cleanup": {"url": ',
            "SRE_COPILOT_REMEDIATION_WEBHOOKS: not valid JSON",
        ),
    ],
)
def test_malformed_value_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, var: str, value: str, expected: str
):
    monkeypatch.setenv(var, value)
    with pytest.raises(ConfigError) as info:
        load_settings()
    message = str(info.value)
    assert message.startswith(expected)
    assert "\n" not in message


def test_placeholder_secret_refused_in_production_only(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("SRE_COPILOT_SLACK__BOT_TOKEN", "changeme")
    assert load_settings().slack.bot_token is not None  # dev: allowed
    monkeypatch.setenv("SRE_COPILOT_ENVIRONMENT", "production")
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert str(info.value).startswith("SRE_COPILOT_SLACK__BOT_TOKEN: a placeholder secret")
    assert "changeme" not in str(info.value)
