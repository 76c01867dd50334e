"""The ``sre-copilot`` command line.

Every command loads Settings itself (so ``--help`` works even with a broken
environment) and turns a :class:`memory.errors.CopilotError` into one line on
stderr and exit status 1. Usage mistakes exit with status 2, as click does.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Annotated, Any, ParamSpec, TypeVar

import typer

from bot.commands import audit as audit_commands
from bot.commands import config as config_commands
from bot.commands import digest as digest_commands
from bot.commands import eval as eval_commands
from bot.commands import jobs as jobs_commands
from bot.commands import runbooks as runbooks_commands
from bot.config import Settings, load_settings
from bot.observability import setup_logging
from memory.config import DatabaseConfig
from memory.errors import CopilotError

P = ParamSpec("P")
T = TypeVar("T")

app = typer.Typer(
    name="sre-copilot",
    help="SRE Copilot: a self-hosted ChatOps copilot for SRE teams.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
db_app = typer.Typer(help="Database schema: migrations.", no_args_is_help=True)
tool_app = typer.Typer(help="Read-only integration tools: list and run.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(tool_app, name="tool")
app.add_typer(runbooks_commands.app, name="runbooks")
app.add_typer(eval_commands.app, name="eval")
app.add_typer(jobs_commands.app, name="jobs")
app.add_typer(digest_commands.app, name="digest")
app.add_typer(audit_commands.app, name="audit")
app.add_typer(config_commands.app, name="config")


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print ``error: message`` on stderr and return the Exit to raise."""
    print(f"error: {message}", file=sys.stderr)
    return typer.Exit(code)


def cli_errors(func: Callable[P, T]) -> Callable[P, T]:
    """Turn CopilotError (and Ctrl-C) into one line and a non-zero exit."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return func(*args, **kwargs)
        except CopilotError as exc:
            raise fail(str(exc)) from None
        except KeyboardInterrupt:
            raise fail("interrupted", 130) from None

    return wrapper


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion."""
    return asyncio.run(coro)


def settings_from(ctx: typer.Context, **overrides: Any) -> Settings:
    """Settings for this invocation (cached on the context)."""
    if overrides:
        return load_settings(**overrides)
    if not isinstance(ctx.obj, Settings):
        ctx.obj = load_settings()
    return ctx.obj


@app.callback()
def main_callback(
    ctx: typer.Context,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log at INFO level.")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Log at DEBUG level.")] = False,
) -> None:
    """SRE Copilot: investigate, predict, and act with approval, from Slack or the terminal."""
    level = logging.DEBUG if debug else logging.INFO if verbose else logging.WARNING
    setup_logging(level=level, fmt="text")  # Settings may be broken here: text until loaded
    ctx.obj = None


@app.command()
@cli_errors
def serve(
    ctx: typer.Context,
    host: Annotated[
        str | None, typer.Option(help="Address to bind (default from settings).")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port to bind (default from settings).")] = None,
    socket_mode: Annotated[
        bool,
        typer.Option(
            "--socket-mode",
            help="Receive Slack events over Socket Mode (needs SRE_COPILOT_SLACK__APP_TOKEN).",
        ),
    ] = False,
) -> None:
    """Serve Slack events, webhooks, /healthz, /readyz and /metrics over HTTP."""
    import uvicorn  # noqa: PLC0415  (heavy; only this command needs it)

    from bot.web import create_app  # noqa: PLC0415

    settings = settings_from(ctx)
    setup_logging(level=settings.log_level, fmt=settings.log_format)
    bind_host = host or settings.web.host
    bind_port = port or settings.web.port
    config = uvicorn.Config(
        create_app(settings, socket_mode=socket_mode),
        host=bind_host,
        port=bind_port,
        log_level=settings.log_level.lower(),
        # JSON: uvicorn's loggers propagate to our handler instead of its own text config
        log_config=None if settings.log_format == "json" else uvicorn.config.LOGGING_CONFIG,
        lifespan="on",
    )
    _check_bindable(bind_host, bind_port)
    server = uvicorn.Server(config)
    try:
        run(server.serve())
    except SystemExit as exc:  # uvicorn exits on startup failure after logging why
        raise fail(f"could not serve on {bind_host}:{bind_port} (see the log above)") from exc


def _check_bindable(host: str, port: int) -> None:
    """Fail with one line when the address cannot be bound (in use, not local...)."""
    import socket  # noqa: PLC0415

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise fail(f"could not serve on {host}:{port}: {exc.strerror}") from None


@app.command()
@cli_errors
def chat(
    ctx: typer.Context,
    conversation: Annotated[
        str, typer.Option("--conversation", "-c", help="Conversation name to start or resume.")
    ] = "default",
    user: Annotated[
        str, typer.Option("--user", "-u", help="Who you are (for approvals and the audit).")
    ] = "console",
) -> None:
    """Talk to the bot in the terminal (same pipeline as Slack)."""
    from bot.console import ConsoleAdapter  # noqa: PLC0415
    from bot.container import Container  # noqa: PLC0415

    settings = settings_from(ctx)

    async def _chat() -> None:
        async with Container(settings) as container:
            adapter = ConsoleAdapter(
                chat=container.chat,
                repos=container.repos,
                workspace_id=settings.workspace_id,
                conversation=conversation,
                user_id=user,
                remediation=container.remediation,
            )
            await adapter.run()

    run(_chat())


@app.command()
@cli_errors
def demo(
    data_dir: Annotated[
        Path, typer.Option(help="Where the demo keeps its SQLite database and Chroma files.")
    ] = Path(".sre-copilot-demo"),
) -> None:
    """Walk the whole product on the embedded default: SQLite, local files, bundled scenario."""
    from bot.demo import run_demo  # noqa: PLC0415

    # The demo ignores configured servers on purpose: embedded default only.
    settings = load_settings(data_dir=data_dir, database=DatabaseConfig())
    run(run_demo(settings, emit=print))


@app.command()
@cli_errors
def doctor(ctx: typer.Context) -> None:
    """Check each integration: not configured / configured / healthy / unhealthy, and why."""
    from bot.container import Container  # noqa: PLC0415
    from tools.base import HealthState  # noqa: PLC0415

    settings = settings_from(ctx)

    async def _doctor() -> bool:
        container = Container(settings, migrate=False)
        try:
            checks = await container.probe()
        finally:
            await container.aclose()
        width = max(len(h.integration) for h in checks)
        for h in checks:
            print(f"{h.integration:<{width}}  {h.state.value:<14}  {h.reason}")
        return all(h.state is not HealthState.UNHEALTHY for h in checks)

    if not run(_doctor()):
        raise typer.Exit(1)


@db_app.command("upgrade")
@cli_errors
def db_upgrade(ctx: typer.Context) -> None:
    """Apply pending migrations to the configured database."""
    from memory.db import Database  # noqa: PLC0415

    settings = settings_from(ctx)

    async def _upgrade() -> tuple[str | None, str]:
        async with Database(settings.database_url) as db:
            return await db.upgrade()

    before, after = run(_upgrade())
    if before == after:
        print(f"database already at migration {after}")
    else:
        print(f"database migrated: {before or 'empty'} → {after}")


@db_app.command("current")
@cli_errors
def db_current(ctx: typer.Context) -> None:
    """Show the database's migration and this release's head."""
    from memory.db import Database, head_revision  # noqa: PLC0415

    settings = settings_from(ctx)

    async def _current() -> str | None:
        async with Database(settings.database_url) as db:
            return await db.current_revision()

    current = run(_current())
    print(f"database: {current or 'empty'}; code head: {head_revision()}")


@tool_app.command("list")
@cli_errors
def tool_list(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per tool.")] = False,
    probe: Annotated[bool, typer.Option(help="Probe integrations before listing.")] = True,
) -> None:
    """List every tool, whether it is enabled, and why not."""
    from bot.container import build_registry  # noqa: PLC0415

    settings = settings_from(ctx)

    async def _list() -> list[Any]:
        registry = build_registry(settings)
        try:
            if probe:
                await registry.refresh_health()
            return registry.list()
        finally:
            await registry.aclose()

    infos = run(_list())
    if as_json:
        for info in infos:
            print(info.model_dump_json())
        return
    if not infos:
        print("no tools")
        return
    width = max(len(i.name) for i in infos)
    for info in infos:
        flag = "enabled " if info.enabled else "disabled"
        kind = "mutating" if info.mutating else "read-only"
        why = f" — {info.reason}" if info.reason else ""
        print(f"{info.name:<{width}}  {flag}  {kind:<9}  {info.summary}{why}")


@tool_app.command("run")
@cli_errors
def tool_run(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Tool name (see `sre-copilot tool list`).")],
    args: Annotated[str, typer.Option("--args", help="Arguments as a JSON object.")] = "{}",
) -> None:
    """Run one read-only tool and print its structured result as JSON."""
    from bot.container import build_registry  # noqa: PLC0415
    from tools.base import ToolStatus  # noqa: PLC0415

    try:
        parsed = json.loads(args)
    except json.JSONDecodeError as exc:
        raise fail(f"--args is not valid JSON: {exc.msg} at column {exc.colno}", 2) from None
    if not isinstance(parsed, dict):
        raise fail('--args must be a JSON object, e.g. \'{"query": "up"}\'', 2)
    settings = settings_from(ctx)

    async def _run() -> Any:
        registry = build_registry(settings)
        try:
            await registry.refresh_health()
            return await registry.run(name, parsed)
        finally:
            await registry.aclose()

    result = run(_run())
    print(result.model_dump_json(indent=2))
    if result.status in (ToolStatus.ERROR, ToolStatus.APPROVAL_REQUIRED):
        raise typer.Exit(1)


def main() -> None:
    """Console-script entry point."""
    app()
