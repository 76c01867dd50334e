"""docs/configuration.md is generated from Settings, and every setting is described."""

from __future__ import annotations

import os
import types
from pathlib import Path
from typing import Literal, Union, get_args, get_origin

import pytest
from pydantic import BaseModel, Field, SecretStr
from typer.testing import CliRunner

from bot.cli import app
from bot.commands.config import all_settings, render_markdown, walk
from bot.config import Settings

ROOT = Path(__file__).resolve().parents[3]
REFERENCE = ROOT / "docs" / "configuration.md"
runner = CliRunner()


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for key in list(os.environ):
        if key.startswith("SRE_COPILOT_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)  # no stray .env


def test_configuration_reference_is_up_to_date():
    expected = render_markdown()
    actual = REFERENCE.read_text(encoding="utf-8") if REFERENCE.exists() else ""
    assert actual == expected, (
        "docs/configuration.md differs from the Settings model: run `make docs` "
        "(sre-copilot config docs --output docs/configuration.md) and commit the result"
    )


def test_every_setting_has_a_description():
    missing = [s.env for s in all_settings() if not s.description.strip()]
    assert not missing, "add Field(description=...) to: " + ", ".join(missing)
    items = [
        f"{s.env}[].{name}" for s in all_settings() for name, _, desc in s.items if not desc.strip()
    ]
    assert not items, "add Field(description=...) to the item fields: " + ", ".join(items)


def test_every_section_has_a_description():
    missing = [sec.title for sec in walk() if not sec.description.strip()]
    assert not missing, "add a docstring or Field(description=...) to sections: " + ", ".join(
        missing
    )


def test_every_field_of_settings_is_in_the_reference():
    """Walk the model independently: every leaf field has exactly one variable."""

    def leaves(model: type[BaseModel], prefix: str) -> list[str]:
        out = []
        for name, info in model.model_fields.items():
            ann = info.annotation
            optional = get_origin(ann) in (Union, types.UnionType)
            inner = [a for a in get_args(ann) if a is not type(None)] if optional else [ann]
            sub = inner[0] if len(inner) == 1 else None
            if isinstance(sub, type) and issubclass(sub, BaseModel):
                out += leaves(sub, f"{prefix}{name.upper()}__")
            else:
                out.append(f"{prefix}{name.upper()}")
        return out

    documented = [s.env for s in all_settings()]
    assert len(documented) == len(set(documented))
    assert sorted(documented) == sorted(leaves(Settings, "SRE_COPILOT_"))


def test_generator_handles_any_model_shape():
    class Target(BaseModel):
        """A webhook target."""

        url: str = Field(description="Where to POST.")
        secret: SecretStr | None = Field(default=None, description="HMAC key.")

    class Section(BaseModel):
        """A nested section."""

        mode: Literal["a", "b"] = Field(default="a", description="Mode.")
        size: int = Field(default=3, ge=1, le=9, description="Size.")

    class Root(BaseModel):
        """Root."""

        level: str = Field(default="x", description="Level.")
        section: Section = Field(default_factory=Section)
        optional_section: Section | None = Field(default=None, description="Maybe.")
        targets: dict[str, Target] = Field(default_factory=dict, description="Targets.")

    docs = {s.env: s for s in all_settings(Root)}
    assert set(docs) == {
        "SRE_COPILOT_LEVEL",
        "SRE_COPILOT_TARGETS",
        "SRE_COPILOT_SECTION__MODE",
        "SRE_COPILOT_SECTION__SIZE",
        "SRE_COPILOT_OPTIONAL_SECTION__MODE",
        "SRE_COPILOT_OPTIONAL_SECTION__SIZE",
    }
    assert docs["SRE_COPILOT_SECTION__MODE"].type == "one of `a`, `b`"
    assert docs["SRE_COPILOT_SECTION__SIZE"].type == "integer (1 to 9)"
    assert docs["SRE_COPILOT_TARGETS"].type == "JSON object: name → object (Target)"
    assert [name for name, _, _ in docs["SRE_COPILOT_TARGETS"].items] == ["url", "secret"]
    assert [sec.title for sec in walk(Root)] == ["Top level", "section", "optional_section"]
    assert "| `SRE_COPILOT_SECTION__SIZE` | integer (1 to 9) | `3` | Size. |" in render_markdown(
        Root
    )


def test_secrets_are_marked_in_the_reference():
    secrets = {s.env for s in all_settings() if s.secret}
    assert "SRE_COPILOT_SLACK__BOT_TOKEN" in secrets
    assert "SRE_COPILOT_LLM__API_KEY" in secrets
    assert "SRE_COPILOT_SLACK__DEFAULT_CHANNEL" not in secrets


def test_config_docs_command_prints_the_reference(tmp_path: Path):
    result = runner.invoke(app, ["config", "docs"])
    assert result.exit_code == 0, result.output
    assert result.stdout == render_markdown()
    out = tmp_path / "configuration.md"
    result = runner.invoke(app, ["config", "docs", "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text(encoding="utf-8") == render_markdown()


@pytest.mark.usefixtures("clean_env")
def test_config_show_masks_secrets(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("SRE_COPILOT_SLACK__BOT_TOKEN", "xoxb-very-secret-value")
    monkeypatch.setenv("SRE_COPILOT_WEB__PORT", "9999")
    result = runner.invoke(app, ["config", "show"])
    assert result.exit_code == 0, result.output
    assert "xoxb-very-secret-value" not in result.output
    lines = {line.split()[0]: line for line in result.stdout.splitlines()}
    assert "********" in lines["SRE_COPILOT_SLACK__BOT_TOKEN"]
    port = lines["SRE_COPILOT_WEB__PORT"]
    assert "9999" in port and "(changed)" in port
    assert set(lines) == {s.env for s in all_settings()}
    changed = runner.invoke(app, ["config", "show", "--changed"])
    assert changed.exit_code == 0
    assert [line.split()[0] for line in changed.stdout.splitlines()] == [
        "SRE_COPILOT_SLACK__BOT_TOKEN",
        "SRE_COPILOT_WEB__PORT",
    ]


@pytest.mark.usefixtures("clean_env")
def test_config_show_reports_a_bad_value_in_one_line(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("SRE_COPILOT_WEB__PORT", "not-a-port")
    result = runner.invoke(app, ["config", "show"])
    assert result.exit_code == 1
    assert "SRE_COPILOT_WEB__PORT" in result.output
