"""Bolt listeners, grouped by feature; each module exposes ``register(app, services)``.

Every listener is thin: ``ack()`` first (Slack wants it within 3 s), then it hands
the work to :class:`bot.slack.services.SlackServices` through its ``intake`` lane,
so the HTTP response (or Socket Mode ack) never waits for an answer.
"""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.slack.listeners import actions, commands, events, views
from bot.slack.services import SlackServices


def register_all(app: AsyncApp, services: SlackServices, *, oauth: bool = False) -> None:
    """Register every listener on ``app``."""
    events.register(app, services, oauth=oauth)
    commands.register(app, services)
    actions.register(app, services)
    views.register(app, services)
