"""The Slack front-end: a Bolt ``AsyncApp`` over :class:`bot.chat.ChatService`.

Modules:

* ``mode`` — which setup the settings describe (single workspace or OAuth; HTTP or
  Socket Mode); imports no Slack library, so ``bot.web`` can ask cheaply.
* ``runtime`` — :class:`~bot.slack.runtime.SlackRuntime`, the lifetime of the app,
  its Web API client and background workers inside ``sre-copilot serve``.
* ``app`` — builds the ``AsyncApp`` and the retrying ``AsyncWebClient``.
* ``listeners/`` — thin Bolt listeners by feature (events, commands, actions, views).
* ``services`` — what listeners delegate to after ``ack()``: placeholder, answer,
  feedback, evidence, App Home; Slack retry dedupe by event id in the database.
* ``blocks`` / ``mrkdwn`` — pure Block Kit rendering and Markdown → mrkdwn.
* ``installation_store`` — OAuth installations and state over our database.

Only this package imports ``slack_bolt`` / ``slack_sdk`` (import-linter enforces it).
"""
