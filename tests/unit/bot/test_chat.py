from __future__ import annotations

from collections.abc import Sequence

import pytest

from agents.reply import Capability, Reply
from bot.chat import ChatService
from bot.console import ConsoleAdapter, render
from memory.errors import IntegrationError
from memory.models import ConversationTurn
from memory.repositories import Repositories


async def caps() -> list[Capability]:
    return [Capability(name="prometheus", state="healthy", reason="http://p:9090")]


class EchoResponder:
    def __init__(self) -> None:
        self.seen: list[tuple[str, list[str]]] = []

    async def respond(
        self,
        *,
        workspace_id: str,
        conversation_key: str,
        text: str,
        history: Sequence[ConversationTurn],
    ) -> Reply:
        self.seen.append((text, [t.text for t in history]))
        if text == "boom":
            raise IntegrationError("prometheus unreachable")
        return Reply(text=f"echo {text}")


@pytest.fixture
def chat(repos: Repositories) -> ChatService:
    return ChatService(repos=repos, capabilities=caps)


async def test_help_lists_commands_and_capabilities(chat: ChatService, workspace: str):
    reply = await chat.handle(workspace_id=workspace, conversation_key="c", text="help")
    assert reply.kind == "help"
    assert "runbook" in reply.text
    assert [c.name for c in reply.capabilities] == ["prometheus"]
    assert "✔ prometheus" in render(reply)


async def test_unknown_text_without_agent_says_so(chat: ChatService, workspace: str):
    reply = await chat.handle(
        workspace_id=workspace, conversation_key="c", text="what's wrong with checkout?"
    )
    assert reply.kind == "info"
    assert "can't investigate yet" in reply.text


async def test_turns_are_stored_and_history_is_passed(repos: Repositories, workspace: str):
    responder = EchoResponder()
    chat = ChatService(repos=repos, capabilities=caps, responder=responder)
    await chat.handle(workspace_id=workspace, conversation_key="t1", text="first", user_id="U1")
    reply = await chat.handle(workspace_id=workspace, conversation_key="t1", text="second")
    assert reply.text == "echo second"
    assert responder.seen[1] == ("second", ["first", "echo first"])
    turns = await repos.conversations.history(workspace_id=workspace, conversation_key="t1")
    assert [(t.role, t.text) for t in turns] == [
        ("user", "first"),
        ("assistant", "echo first"),
        ("user", "second"),
        ("assistant", "echo second"),
    ]
    assert turns[1].reply is not None and turns[1].reply["text"] == "echo first"


async def test_responder_error_becomes_a_reply(repos: Repositories, workspace: str):
    chat = ChatService(repos=repos, capabilities=caps, responder=EchoResponder())
    reply = await chat.handle(workspace_id=workspace, conversation_key="t", text="boom")
    assert reply.kind == "error"
    assert "prometheus unreachable" in reply.text


async def test_console_resumes_a_conversation_from_the_database(
    chat: ChatService, repos: Repositories, workspace: str
):
    first = ConsoleAdapter(chat=chat, repos=repos, workspace_id=workspace, conversation="ops")
    assert "(0 earlier turns)" in await first.banner()
    assert "this message" in (await first.handle_line("help") or "")
    second = ConsoleAdapter(chat=chat, repos=repos, workspace_id=workspace, conversation="ops")
    assert "(2 earlier turns)" in await second.banner()
    history = await second.handle_line("history")
    assert history is not None and "2 earlier messages" in history and "you: help" in history
    assert await second.handle_line("/quit") is None
    new = await second.handle_line("/new")
    assert new is not None and second.conversation != "ops"


async def test_console_run_loop_reads_until_quit(
    chat: ChatService, repos: Repositories, workspace: str
):
    import io

    adapter = ConsoleAdapter(chat=chat, repos=repos, workspace_id=workspace, conversation="loop")
    out = io.StringIO()
    await adapter.run(stdin=io.StringIO("status\n\n/quit\nhelp\n"), stdout=out)
    text = out.getvalue()
    assert "Integrations I can use" in text
    assert "this message" not in text  # stopped at /quit


async def test_workspace_is_created_on_first_message_and_ensured_once(
    repos: Repositories, monkeypatch: pytest.MonkeyPatch
):
    ensured: list[str] = []
    ensure = repos.workspaces.ensure

    async def counting_ensure(*, workspace_id: str, name: str = "") -> object:
        ensured.append(workspace_id)
        return await ensure(workspace_id=workspace_id, name=name)

    monkeypatch.setattr(repos.workspaces, "ensure", counting_ensure)
    chat = ChatService(repos=repos, capabilities=caps, responder=EchoResponder())
    for text in ("first", "second"):
        await chat.handle(workspace_id="T-NEW", conversation_key="t", text=text)
    assert await repos.workspaces.get(workspace_id="T-NEW") is not None
    assert ensured == ["T-NEW"]
    assert await repos.conversations.count(workspace_id="T-NEW", conversation_key="t") == 4
