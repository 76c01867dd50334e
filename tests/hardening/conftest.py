"""Fixtures of the hardening tests: the corpus, distinctive secrets, the canary server.

The real-server fixtures (``alertmanager_server``) come from the integration suite, so
a missing binary skips locally and fails under ``CI=true`` exactly as there.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from tests.integration.conftest import alertmanager_server  # noqa: F401  (fixture re-export)

CORPUS_FILE = Path(__file__).with_name("corpus.yaml")

PLANT_MARKER = "LEAKME"
"""Every secret-shaped string planted in the corpus contains it."""

SELF_CHECK_PATH = "/__self_check__"


@dataclass(frozen=True)
class Payload:
    """One injection payload of the corpus, with the canary URL filled in."""

    id: str
    style: str
    text: str


@dataclass
class Canary:
    """A loopback HTTP server whose URLs appear in untrusted text; it must get no hit."""

    url: str
    hits: list[str] = field(default_factory=list)

    def untrusted_hits(self) -> list[str]:
        return [h for h in self.hits if not h.endswith(SELF_CHECK_PATH)]


@pytest.fixture(scope="session")
def canary() -> Iterator[Canary]:
    box: list[Canary] = []

    class Handler(BaseHTTPRequestHandler):
        def _hit(self) -> None:
            box[0].hits.append(f"{self.command} {self.path}")
            body = b"canary: you should not have fetched this"
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = _hit
        do_POST = _hit
        do_HEAD = _hit

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    box.append(Canary(url=f"http://127.0.0.1:{server.server_address[1]}"))
    thread = threading.Thread(target=server.serve_forever, name="canary", daemon=True)
    thread.start()
    try:
        yield box[0]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def load_corpus(canary_url: str) -> list[Payload]:
    """The corpus with ``{canary}`` and ``{padding}`` filled in."""
    data = yaml.safe_load(CORPUS_FILE.read_text(encoding="utf-8"))
    padding = "lorem ipsum dolor sit amet " * 200
    return [
        Payload(
            id=item["id"],
            style=item["style"],
            text=item["text"].replace("{canary}", canary_url).replace("{padding}", padding),
        )
        for item in data["payloads"]
    ]


@pytest.fixture(scope="session")
def corpus(canary: Canary) -> list[Payload]:
    return load_corpus(canary.url)
