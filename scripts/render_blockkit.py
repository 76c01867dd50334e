r"""Render real Block Kit answers as a static HTML page (and a PNG) for the docs.

The blocks are not written by hand: the script runs the demo scenario through the
product (the same container, ChatService and investigation graph as ``sre-copilot
demo``, in a throwaway data directory), asks the questions a responder would ask in
a Slack thread, and renders each reply with ``bot.slack.blocks.render_reply``, the
function the Slack front-end posts with. The blocks are saved as JSON, then drawn as
HTML that approximates Slack's rendering (sections, context, dividers, headers,
buttons, images, mrkdwn bold/italic/strike/code/links/mentions and a few emoji), with
the reply's attached chart PNG shown as Slack shows an uploaded file. Optionally the
page is screenshotted with headless Chromium.

It is an approximation of Slack's client, not a Slack screenshot: fonts, spacing and
emoji differ.

Usage (from the repository root)::

    .venv/bin/python scripts/render_blockkit.py --json docs/img/answer-blocks.json \
        --html answer.html --png docs/img/answer.png

    .venv/bin/python scripts/render_blockkit.py --from-json docs/img/answer-blocks.json \
        --html answer.html      # re-render saved blocks, no demo run
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import html
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from PIL import Image

from agents.gather import Sources
from agents.sources import ScenarioSources
from bot.config import load_settings
from bot.container import Container, open_runbook_store
from bot.slack.blocks import render_reply
from memory.config import DatabaseConfig
from tools.promql_file import FilePrometheusClient
from tools.runbooks import SAMPLE_RUNBOOKS
from tools.scenario import bundled_scenario_dir, load_scenario

CHANNEL = "C0INCIDENT"
THREAD_TS = "1795687200.000100"
USER = "U0ONCALL"
USER_NAME = "dana"
BOT_USER = "U0COPILOT"
BOT_NAME = "SRE Copilot"
QUESTIONS = ("what's wrong with checkout?", "what is the p99 latency of checkout?")
EMOJI = {
    "warning": "⚠️",
    "large_green_circle": "🟢",
    "large_orange_circle": "🟠",
    "red_circle": "🔴",
    "white_circle": "⚪",
    "grey_question": "❔",
    "rotating_light": "🚨",
    "white_check_mark": "✅",
    "x": "❌",
    "hourglass_flowing_sand": "⏳",
    "mag": "🔍",
    "chart_with_upwards_trend": "📈",
    "thumbsup": "👍",
    "thumbsdown": "👎",
    "repeat": "🔁",
    "paperclip": "📎",
    "memo": "📝",
    "bell": "🔔",
    "large_yellow_circle": "🟡",
    "large_blue_circle": "🔵",
}

# --- producing the blocks --------------------------------------------------------------


async def demo_thread(data_dir: Path) -> list[dict[str, Any]]:
    """Ask :data:`QUESTIONS` in one thread on the demo scenario; the replies as Slack messages.

    Returns:
        One entry per turn: ``question``, ``messages`` (each ``text`` and ``blocks``, as
        ``chat.update``/``chat.postMessage`` would send them) and ``files`` (``title``
        and ``path`` of each attachment, uploaded into the thread by the Slack front-end).
    """
    settings = load_settings(data_dir=data_dir, database=DatabaseConfig())
    scenario = load_scenario(bundled_scenario_dir())
    files = ScenarioSources(scenario)
    metrics = FilePrometheusClient.from_openmetrics(scenario.path / "metrics.om")
    sources = Sources(metrics=metrics, alerts=[files], paging=files)
    end = scenario.meta.end
    turns: list[dict[str, Any]] = []
    async with Container(
        settings, sources=sources, clock=lambda: end, lookback=end - scenario.meta.start
    ) as container:
        store = await open_runbook_store(data_dir=data_dir, config=settings.vector_store)
        await store.ingest(SAMPLE_RUNBOOKS)
        await container.attach_runbooks(store)
        for question in QUESTIONS:
            reply = await container.chat.handle(
                workspace_id="demo",
                conversation_key=f"slack:{CHANNEL}:{THREAD_TS}",
                text=question,
                user_id=USER,
            )
            rendered = render_reply(reply, question=question)
            turns.append(
                {
                    "question": question,
                    "messages": [{"text": m.text, "blocks": m.blocks} for m in rendered.messages],
                    "files": [{"title": a.title, "path": a.path} for a in reply.attachments],
                }
            )
    return turns


# --- mrkdwn --------------------------------------------------------------------------------

_TOKEN = re.compile(r"```(.*?)```|`([^`\n]+)`|<([^<>|\n]+)(?:\|([^<>\n]+))?>", re.S)
_BOLD = re.compile(r"(?<![\w*])\*(?!\s)([^*\n]+?)(?<!\s)\*(?![\w*])")
_ITALIC = re.compile(r"(?<![\w_])_(?!\s)([^_\n]+?)(?<!\s)_(?![\w_])")
_STRIKE = re.compile(r"(?<![\w~])~(?!\s)([^~\n]+?)(?<!\s)~(?![\w~])")
_EMOJI = re.compile(r":([a-z0-9_+\-]+):")


def _text(raw: str) -> str:
    """Slack-escaped text → HTML-escaped text (``&lt;`` stays a visible ``<``)."""
    return html.escape(html.unescape(raw), quote=False)


def _inline(raw: str) -> str:
    out = _text(raw)
    out = _BOLD.sub(r"<b>\1</b>", out)
    out = _ITALIC.sub(r"<i>\1</i>", out)
    out = _STRIKE.sub(r"<s>\1</s>", out)
    out = _EMOJI.sub(lambda m: EMOJI.get(m.group(1), m.group(0)), out)
    return out.replace("\n", "<br>")


def mrkdwn_html(text: str) -> str:
    """Slack mrkdwn → HTML: bold, italic, strike, code, code blocks, links, mentions."""
    out: list[str] = []
    pos = 0
    for m in _TOKEN.finditer(text):
        pre, code, target, label = m.groups()
        before = text[pos : m.start()]
        if pre is not None:  # a code block is a block: no line break around it
            before = before.removesuffix("\n")
            if out and out[-1].endswith("</pre>"):
                before = before.removeprefix("\n")
        out.append(_inline(before))
        if pre is not None:
            out.append(f'<pre class="pre">{_text(pre.strip(chr(10)))}</pre>')
        elif code is not None:
            out.append(f'<code class="code">{_text(code)}</code>')
        elif target.startswith("@"):
            names = {USER: USER_NAME, BOT_USER: BOT_NAME}
            name = names.get(target[1:], label or target[1:])
            out.append(f'<span class="mention">@{_text(name)}</span>')
        elif target.startswith("#"):
            out.append(f'<span class="mention">#{_text(label or target[1:])}</span>')
        elif target.startswith("!"):
            out.append(f'<span class="mention">@{_text(target[1:].split("^")[0])}</span>')
        else:
            href = html.escape(html.unescape(target))
            out.append(f'<a href="{href}">{_text(label or target)}</a>')
        pos = m.end()
    out.append(_inline(text[pos:]))
    return "".join(out)


def text_html(obj: dict[str, Any] | None) -> str:
    """A text object (mrkdwn or plain_text) as HTML."""
    if not obj:
        return ""
    if obj.get("type") == "mrkdwn":
        return mrkdwn_html(str(obj.get("text", "")))
    plain = _text(str(obj.get("text", "")))
    if obj.get("emoji", True):
        plain = _EMOJI.sub(lambda m: EMOJI.get(m.group(1), m.group(0)), plain)
    return plain.replace("\n", "<br>")


# --- blocks ------------------------------------------------------------------------------


def _image(url: str, alt: str, css: str) -> str:
    return f'<img class="{css}" src="{html.escape(url)}" alt="{html.escape(alt)}">'


def element_html(el: dict[str, Any]) -> str:
    """An interactive or context element."""
    kind = el.get("type")
    if kind == "button":
        style = el.get("style", "")
        return f'<span class="button {style}">{text_html(el.get("text"))}</span>'
    if kind == "image":
        return _image(str(el.get("image_url", "")), str(el.get("alt_text", "")), "ctx-img")
    if kind in ("mrkdwn", "plain_text"):
        return f"<span>{text_html(el)}</span>"
    placeholder = el.get("placeholder") or {"type": "plain_text", "text": kind or "?"}
    return f'<span class="button select">{text_html(placeholder)} ▾</span>'


def block_html(block: dict[str, Any]) -> str:
    """One Block Kit block as HTML."""
    kind = block.get("type")
    if kind == "divider":
        return '<hr class="divider">'
    if kind == "header":
        return f'<div class="header">{text_html(block.get("text"))}</div>'
    if kind == "context":
        items = "".join(element_html(e) for e in block.get("elements", []))
        return f'<div class="context">{items}</div>'
    if kind == "actions":
        items = "".join(element_html(e) for e in block.get("elements", []))
        return f'<div class="actions">{items}</div>'
    if kind == "image":
        title = f'<div class="img-title">{text_html(block.get("title"))}</div>'
        img = _image(str(block.get("image_url", "")), str(block.get("alt_text", "")), "image")
        return f'<div class="image-block">{title}{img}</div>'
    if kind == "section":
        body = text_html(block.get("text"))
        fields = "".join(f"<div>{text_html(f)}</div>" for f in block.get("fields", []))
        if fields:
            body += f'<div class="fields">{fields}</div>'
        accessory = block.get("accessory")
        side = f'<div class="accessory">{element_html(accessory)}</div>' if accessory else ""
        return f'<div class="section"><div class="section-text">{body}</div>{side}</div>'
    return f'<div class="context">[{html.escape(str(kind))} block]</div>'


def _data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()


def _avatar(bot: bool) -> str:
    return '<div class="avatar bot">🛟</div>' if bot else '<div class="avatar user">D</div>'


def _message(*, bot: bool, body: str, time: str) -> str:
    name = BOT_NAME if bot else USER_NAME
    app = '<span class="app">APP</span>' if bot else ""
    return (
        f'<div class="message">{_avatar(bot)}<div class="content">'
        f'<div class="meta"><b>{name}</b>{app}<span class="time">{time}</span></div>'
        f"{body}</div></div>"
    )


def page_html(turns: list[dict[str, Any]]) -> str:
    """A Slack-like thread: each question, its answer's blocks and attached files."""
    parts: list[str] = []
    minute = 0
    for turn in turns:
        question = f"<@{BOT_USER}> " if not parts else ""
        parts.append(
            _message(
                bot=False,
                body=f'<div class="section-text">{mrkdwn_html(question)}'
                f"{_text(turn['question'])}</div>",
                time=f"12:{minute:02d}",
            )
        )
        for msg in turn["messages"]:
            blocks = "".join(block_html(b) for b in msg["blocks"])
            parts.append(_message(bot=True, body=blocks, time=f"12:{minute:02d}"))
        for file in turn.get("files", []):
            uri = file.get("data_uri", "")
            img = _image(uri, file["title"], "file") if uri else ""
            body = f'<div class="file-title">{_text(file["title"])}</div>{img}'
            parts.append(_message(bot=True, body=body, time=f"12:{minute:02d}"))
        minute += 1
    return _PAGE.replace("{messages}", "\n".join(parts))


_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>SRE Copilot answer (Block Kit, local rendering)</title>
<style>
body { margin: 0; background: #fff; color: #1d1c1d; font: 15px/1.46668 "Lato", "Helvetica Neue",
  "DejaVu Sans", Arial, sans-serif; }
.thread { width: 880px; padding: 8px 0 16px; }
.bar { padding: 10px 20px; border-bottom: 1px solid #ddd; font-weight: 900; font-size: 18px; }
.bar span { font-weight: 400; color: #616061; font-size: 13px; margin-left: 8px; }
.message { display: flex; padding: 8px 20px; }
.avatar { width: 36px; height: 36px; border-radius: 4px; margin-right: 8px; flex: none;
  display: flex; align-items: center; justify-content: center; font-size: 20px; color: #fff; }
.avatar.bot { background: #1264a3; }
.avatar.user { background: #e8912d; font-weight: 700; font-size: 16px; }
.content { flex: 1; min-width: 0; }
.meta { margin-bottom: 2px; }
.app { background: #e8e8e8; color: #616061; font-size: 10px; font-weight: 700; padding: 1px 3px;
  border-radius: 2px; margin-left: 4px; vertical-align: 2px; }
.time { color: #616061; font-size: 12px; margin-left: 8px; }
.section { display: flex; margin: 4px 0; }
.section-text { flex: 1; white-space: normal; overflow-wrap: anywhere; }
.accessory { margin-left: 12px; }
.fields { display: grid; grid-template-columns: 1fr 1fr; gap: 8px 16px; margin-top: 6px; }
.context { color: #616061; font-size: 13px; margin: 4px 0; display: flex; flex-wrap: wrap;
  gap: 4px 12px; align-items: center; }
.ctx-img { width: 16px; height: 16px; }
.divider { border: 0; border-top: 1px solid #dddddd; margin: 10px 0; }
.header { font-weight: 900; font-size: 18px; margin: 6px 0; }
.actions { display: flex; flex-wrap: wrap; gap: 8px; margin: 8px 0; }
.button { border: 1px solid #bbbabb; border-radius: 4px; padding: 3px 12px; font-size: 13px;
  font-weight: 700; background: #fff; }
.button.primary { background: #007a5a; border-color: #007a5a; color: #fff; }
.button.danger { background: #e01e5a; border-color: #e01e5a; color: #fff; }
.code { font: 12px Monaco, Menlo, "DejaVu Sans Mono", monospace; color: #e01e5a;
  background: #f6f6f6; border: 1px solid #e1e1e1; border-radius: 3px; padding: 1px 3px; }
.pre { font: 12px/1.5 Monaco, Menlo, "DejaVu Sans Mono", monospace; background: #f8f8f8;
  border: 1px solid #e1e1e1; border-radius: 4px; padding: 8px; margin: 4px 0;
  white-space: pre-wrap; overflow-wrap: anywhere; }
.mention { background: #e8f5fa; color: #1264a3; border-radius: 3px; padding: 0 2px; }
a { color: #1264a3; text-decoration: none; }
.image-block img.image, img.file { max-width: 560px; border: 1px solid #ddd; border-radius: 8px;
  margin-top: 4px; }
.file-title, .img-title { color: #616061; font-size: 13px; }
.note { color: #616061; font-size: 12px; padding: 6px 20px; border-top: 1px solid #eee; }
</style></head>
<body><div class="thread">
<div class="bar">Thread<span>#incidents</span></div>
{messages}
<div class="note">Local HTML rendering of the Block Kit JSON produced by
bot/slack/blocks.py for the demo scenario (scripts/render_blockkit.py); not a Slack
screenshot.</div>
</div></body></html>
"""


# --- screenshot ----------------------------------------------------------------------------


def screenshot(page: Path, png: Path, *, width: int = 880, height: int = 6000) -> None:
    """Screenshot ``page`` with headless Chromium, then crop the blank space below it."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("chromium not found: apt-get install -y chromium")
    png.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        subprocess.run(
            [
                chromium,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--hide-scrollbars",
                f"--user-data-dir={profile}",
                f"--screenshot={png}",
                f"--window-size={width},{height}",
                page.resolve().as_uri(),
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
    with Image.open(png) as img:
        rgb = img.convert("RGB")
    # the page is white: find the last row that is not, and keep a small margin
    inverted = Image.eval(rgb, lambda v: 255 - v)
    box = inverted.getbbox()
    bottom = min(rgb.height, (box[3] if box else rgb.height) + 12)
    rgb.crop((0, 0, width, bottom)).save(png, optimize=True)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--from-json", type=Path, help="Render saved blocks (no demo run).")
    parser.add_argument("--json", type=Path, help="Save the blocks of the thread as JSON.")
    parser.add_argument("--html", type=Path, required=True, help="Write the HTML page here.")
    parser.add_argument("--png", type=Path, help="Screenshot the page here (needs chromium).")
    args = parser.parse_args(argv)
    if args.from_json:
        turns = json.loads(args.from_json.read_text(encoding="utf-8"))
    else:
        with tempfile.TemporaryDirectory(prefix="render-blockkit-") as tmp:
            turns = asyncio.run(demo_thread(Path(tmp)))
            # inline the charts now: the data directory goes away with the block
            for turn in turns:
                for file in turn["files"]:
                    path = Path(file.pop("path"))
                    file["data_uri"] = _data_uri(path) if path.is_file() else ""
    page = page_html(turns)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        # the charts' bytes stay out of the JSON; only their titles are kept
        saved = [
            {**turn, "files": [{"title": f["title"]} for f in turn["files"]]} for turn in turns
        ]
        args.json.write_text(json.dumps(saved, indent=2, ensure_ascii=False) + "\n")
        sys.stderr.write(f"wrote {args.json}\n")
    args.html.parent.mkdir(parents=True, exist_ok=True)
    args.html.write_text(page, encoding="utf-8")
    sys.stderr.write(f"wrote {args.html}\n")
    if args.png:
        screenshot(args.html, args.png)
        sys.stderr.write(f"wrote {args.png}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
