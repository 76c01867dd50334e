from __future__ import annotations

from pydantic import BaseModel, Field

from memory.errors import IntegrationError, UpstreamHTTPError, UpstreamTimeout
from tools.base import Health, HealthState, Tool, ToolRegistry, ToolResult, ToolStatus


class EchoArgs(BaseModel):
    """Args."""

    text: str = Field(min_length=1)
    times: int = Field(default=1, ge=1, le=3)


async def echo(args: EchoArgs) -> ToolResult:
    """Repeat the text.

    More detail for the LLM.
    """
    if args.text == "timeout":
        raise UpstreamTimeout("no answer from http://x within 1s")
    if args.text == "http":
        raise UpstreamHTTPError("http://x/api: 503 Service Unavailable", status_code=503)
    if args.text == "integ":
        raise IntegrationError("cannot connect to http://x")
    if args.text == "bug":
        raise KeyError("oops")
    return ToolResult(
        tool="echo", status=ToolStatus.OK, data=args.text * args.times, query=args.text
    )


class FakeIntegration:
    def __init__(
        self, name: str, *, configured: bool, healthy: bool = True, mutating: bool = False
    ) -> None:
        self.name = name
        self._configured = configured
        self._healthy = healthy
        self._tools = [
            Tool.define(
                echo, args_model=EchoArgs, integration=name, name=f"{name}_echo", mutating=mutating
            )
        ]

    @property
    def configured(self) -> bool:
        return self._configured

    async def health(self) -> Health:
        state = HealthState.HEALTHY if self._healthy else HealthState.UNHEALTHY
        return Health(
            integration=self.name, state=state, reason="" if self._healthy else "connection refused"
        )

    def tools(self) -> list[Tool]:  # type: ignore[type-arg]
        return self._tools


def make_tool() -> Tool[EchoArgs]:
    return Tool.define(echo, args_model=EchoArgs, integration="test")


def test_define_takes_name_and_docstring():
    tool = make_tool()
    assert tool.name == "echo"
    assert tool.summary == "Repeat the text."
    assert "More detail" in tool.description
    assert tool.input_schema()["properties"]["text"]["type"] == "string"


async def test_validation_error_names_the_field():
    result = await make_tool().run({"text": "", "times": 9})
    assert result.status is ToolStatus.ERROR
    assert result.error is not None
    assert "text:" in result.error and "times:" in result.error


async def test_upstream_errors_become_results():
    tool = make_tool()
    timeout = await tool.run({"text": "timeout"})
    assert (
        timeout.status is ToolStatus.ERROR
        and timeout.error is not None
        and timeout.error.startswith("timeout:")
    )
    http = await tool.run({"text": "http"})
    assert http.upstream_status == 503
    integ = await tool.run({"text": "integ"})
    assert integ.error == "cannot connect to http://x"
    bug = await tool.run({"text": "bug"})
    assert bug.error is not None and bug.error.startswith("unexpected KeyError")


async def test_ok_result_and_describe():
    result = await make_tool().run({"text": "ab", "times": 2})
    assert result.ok and result.data == "abab"
    assert result.duration_ms > 0
    assert "query='ab'" in result.describe()


async def test_registry_disables_unconfigured_and_unhealthy():
    registry = ToolRegistry(
        integrations=[
            FakeIntegration("prom", configured=True),
            FakeIntegration("pd", configured=False),
            FakeIntegration("am", configured=True, healthy=False),
        ]
    )
    await registry.refresh_health()
    infos = {i.name: i for i in registry.list()}
    assert infos["prom_echo"].enabled
    assert not infos["pd_echo"].enabled and infos["pd_echo"].reason == "not configured: no settings"
    assert not infos["am_echo"].enabled and "connection refused" in infos["am_echo"].reason
    assert [t.name for t in registry.read_only_tools()] == ["prom_echo"]
    refused = await registry.run("am_echo", {"text": "x"})
    assert refused.status is ToolStatus.ERROR and "unhealthy" in (refused.error or "")
    ok = await registry.run("prom_echo", {"text": "x"})
    assert ok.ok
    unknown = await registry.run("nope", {})
    assert "unknown tool" in (unknown.error or "") and "prom_echo" in (unknown.error or "")


async def test_registry_never_runs_mutating_tools():
    registry = ToolRegistry(integrations=[FakeIntegration("act", configured=True, mutating=True)])
    await registry.refresh_health()
    assert registry.read_only_tools() == []
    result = await registry.run("act_echo", {"text": "x"})
    assert result.status is ToolStatus.APPROVAL_REQUIRED
