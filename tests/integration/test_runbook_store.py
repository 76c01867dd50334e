"""The runbook store with the real MiniLM embedder and a real Chroma directory.

Ingests the project's own sample runbooks and checks that plain-language symptoms
find the right runbook first, including paraphrases that share no keyword with it.
Also drives the ``runbooks`` and ``eval`` CLI groups end to end, and runs the store
against a real Chroma server (``chroma run`` from the chromadb package) in http mode.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from typer.testing import CliRunner

from bot.commands.eval import app as eval_app
from bot.commands.runbooks import app as runbooks_app
from bot.config import load_settings
from memory.config import VectorStoreConfig
from memory.vectorstore import ChromaVectorStore, HashEmbedder, MiniLMEmbedder
from tests.servers.process import ServerProcess, start_server
from tools.runbooks import RunbookStore

pytestmark = pytest.mark.slow

SAMPLES = Path(__file__).resolve().parents[2] / "tools" / "sample_runbooks"


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def minilm_store(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[RunbookStore]:
    data_dir = tmp_path_factory.mktemp("runbook-store")
    vectors = await ChromaVectorStore.open(
        config=VectorStoreConfig(), embedder=MiniLMEmbedder(), data_dir=data_dir
    )
    store = await RunbookStore.open(vectors)
    report = await store.ingest(SAMPLES)
    assert (report.added, report.skipped) == (10, 0)
    yield store
    await vectors.close()


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("pods restarting OOMKilled", "memory-pressure-oomkilled.md"),
        ("the app ran out of RAM and the kernel killed it", "memory-pressure-oomkilled.md"),
        (
            "checkout service: Postgres connection pool exhausted after a deploy",
            "checkout-db-pool-exhausted.md",
        ),
        ("sorry, too many clients already", "db-connection-pool-exhaustion.md"),
        ("x509: certificate has expired or is not yet valid", "certificate-expiry.md"),
        ("No space left on device", "disk-full.md"),
        ("container keeps restarting in CrashLoopBackOff", "crash-loop.md"),
        ("p99 response time above the SLO", "high-latency.md"),
        ("spike of 503 errors returned to users", "high-error-rate.md"),
        ("container throttled by its CPU limit", "cpu-saturation.md"),
        ("how do I undo a bad release", "bad-deploy-rollback.md"),
    ],
)
async def test_search_finds_the_runbook_first(
    minilm_store: RunbookStore, query: str, expected: str
) -> None:
    hits = await minilm_store.search(query, k=3)
    assert [h.path for h in hits][0] == expected, [(h.path, h.score) for h in hits]
    assert hits[0].section
    assert hits[0].snippet


async def test_relevance_separates_related_from_unrelated(minilm_store: RunbookStore) -> None:
    related = await minilm_store.search("pods restarting OOMKilled", k=1)
    unrelated = await minilm_store.search("recipe for a chocolate birthday cake", k=1)
    assert related[0].relevance > 0.4
    assert unrelated[0].relevance < related[0].relevance - 0.2


async def test_reingest_embeds_nothing_and_reopen_searches(
    minilm_store: RunbookStore,
) -> None:
    report = await minilm_store.ingest(SAMPLES)
    assert (report.unchanged, report.sections) == (10, 0)
    reopened = await RunbookStore.open(minilm_store.vector_store)
    stats = await reopened.stats()
    assert stats.runbooks == 10 and stats.records == stats.runbooks + stats.sections
    [hit] = await reopened.search("TLS certificate expires in 3 days", k=1)
    assert hit.path == "certificate-expiry.md"


def test_cli_ingest_and_search(tmp_path: Path) -> None:
    runner = CliRunner()
    settings = load_settings(data_dir=tmp_path / "data")
    first = runner.invoke(runbooks_app, ["ingest", str(SAMPLES)], obj=settings)
    assert first.exit_code == 0, first.output
    assert "10 added" in first.output and "added      crash-loop.md" in first.output
    again = runner.invoke(runbooks_app, ["ingest", str(SAMPLES), "--json"], obj=settings)
    assert again.exit_code == 0, again.output
    assert json.loads(again.output)["unchanged"] == 10

    found = runner.invoke(
        runbooks_app, ["search", "disk filling up on the node", "--k", "2", "--json"], obj=settings
    )
    assert found.exit_code == 0, found.output
    hits = json.loads(found.output)
    assert len(hits) == 2 and hits[0]["path"] == "disk-full.md"
    table = runner.invoke(runbooks_app, ["search", "disk filling up"], obj=settings)
    assert table.exit_code == 0 and "1. Disk or volume filling up" in table.output

    missing = runner.invoke(runbooks_app, ["ingest", str(tmp_path / "nope")], obj=settings)
    assert missing.exit_code == 1 and "no such file or directory" in missing.output


async def test_claude_is_offered_runbook_search_once_the_store_opens(tmp_path: Path) -> None:
    """The store opens after Claude's tools are listed; its search must still be offered."""
    from bot.container import Container

    settings = load_settings(data_dir=tmp_path / "data", llm={"api_key": "sk-ant-test-key"})
    ingested = await asyncio.to_thread(
        CliRunner().invoke, runbooks_app, ["ingest", str(SAMPLES)], obj=settings
    )
    assert ingested.exit_code == 0, ingested.output
    async with Container(settings) as c:
        assert c.agent.refiner is not None
        names = c.agent.refiner.tool_names  # type: ignore[attr-defined]
        assert "runbooks_search" in names
        assert len(names) == len(set(names))


def test_cli_eval_prints_one_json_line(tmp_path: Path) -> None:
    queries = tmp_path / "q.jsonl"
    rows = [
        {"text": "Pods are being OOM killed", "expected_runbook": "memory-pressure-oomkilled.md"},
        {"text": "Certificate expires soon", "expected_runbook": "certificate-expiry.md"},
    ]
    queries.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    args = ["runbooks", "--queries", str(queries), "--corpus", str(SAMPLES), "--field", "text"]
    result = CliRunner().invoke(eval_app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    figures = json.loads(lines[0])
    assert figures["n"] == 2 and figures["recall_at_1"] == 1.0
    assert {"recall_at_3", "mrr", "p50_ms", "p95_ms"} <= set(figures)

    table = CliRunner().invoke(eval_app, [*args, "--store-dir", str(tmp_path / "s")])
    assert table.exit_code == 0 and "recall@1" in table.output


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    workdir = tmp_path_factory.mktemp("chroma-server")
    chroma = str(Path(sys.executable).parent / "chroma")
    server = start_server(
        name="chroma",
        argv_for_port=lambda port: [
            chroma,
            "run",
            "--path",
            str(workdir / "data"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        workdir=workdir,
        ready_path="/api/v2/heartbeat",
    )
    yield server
    server.stop()


async def test_store_on_a_chroma_server(chroma_server: ServerProcess, tmp_path: Path) -> None:
    config = VectorStoreConfig(mode="http", host="127.0.0.1", port=chroma_server.port)
    vectors = await ChromaVectorStore.open(
        config=config, embedder=HashEmbedder(), data_dir=tmp_path
    )
    assert vectors.target.startswith(f"chroma http://127.0.0.1:{chroma_server.port}/")
    store = await RunbookStore.open(vectors)
    report = await store.ingest(SAMPLES)
    assert report.added == 10
    # another replica opening the same collection builds the same index from the server
    replica = await RunbookStore.open(
        await ChromaVectorStore.open(config=config, embedder=HashEmbedder(), data_dir=tmp_path)
    )
    assert len(replica) == 10
    [hit] = await replica.search("x509 certificate expired", k=1)
    assert hit.path == "certificate-expiry.md"
    await vectors.clear()
    assert await vectors.count() == 0
