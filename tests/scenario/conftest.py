"""Fixtures of the Slack scenario tests: the Web API stub and the served app."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio

from tests.scenario.harness import SlackHarness, running_app, slack_settings
from tests.stubs.slack_api import SlackApiStub


@pytest.fixture
def slack_stub() -> Iterator[SlackApiStub]:
    with SlackApiStub() as stub:
        yield stub


@pytest_asyncio.fixture(loop_scope="session")
async def slack(tmp_path: Path, slack_stub: SlackApiStub) -> AsyncIterator[SlackHarness]:
    """The app (single workspace, HTTP mode, scripted answers) on a loopback port."""
    settings = slack_settings(tmp_path / "data", slack_stub)
    async with running_app(settings, slack_stub) as harness:
        yield harness
