"""Runbook store: parsing, bad files, incremental ingest, hybrid search, and one
conformance suite run against both VectorStore implementations (in-memory and Chroma)."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from memory.config import VectorStoreConfig
from memory.errors import StorageError, ToolInputError
from memory.vectorstore import (
    ChromaVectorStore,
    Embedder,
    HashEmbedder,
    InMemoryVectorStore,
    VectorHit,
    VectorRecord,
    VectorStore,
)
from tools.base import HealthState, Integration, ToolStatus
from tools.runbook_eval import evaluate_runbooks, load_queries
from tools.runbook_ingest import (
    MAX_SECTION_CHARS,
    RunbookFileError,
    parse_runbook,
    read_runbook_file,
    split_sections,
)
from tools.runbook_search import BM25, snippet, strip_templates, tokenize
from tools.runbooks import (
    SAMPLE_RUNBOOKS,
    IngestEvent,
    RunbookIntegration,
    RunbookStore,
    SearchRunbooksArgs,
)

SAMPLES = SAMPLE_RUNBOOKS

DISK = """---
title: Disk almost full
service: storage
tags: [disk, capacity]
alerts: [NodeDiskAlmostFull]
---
Intro before any heading.

# NodeDiskAlmostFull

## Meaning

A node filesystem has less than ten percent free space left.

## Diagnosis

```bash
# not a heading: a shell comment inside a fence
df -h
```

### Inodes

Check inode usage too.
"""

MEMORY = """---
title: Memory pressure
alerts: [ContainerOOMKilled]
---
# Memory pressure

## Summary

Containers are OOMKilled when their memory working set reaches the limit.

## Mitigation

Raise the memory limit or fix the leak.
"""

LATENCY = """# Slow responses

## Symptoms

Request latency p99 is above the objective; users wait.
"""


def write(root: Path, name: str, text: str | bytes) -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


# --- parsing ---------------------------------------------------------------------------


def test_parse_runbook_front_matter_and_sections() -> None:
    rb = parse_runbook(DISK, path="node/disk.md")
    assert rb.title == "Disk almost full"
    assert rb.heading == "NodeDiskAlmostFull"
    assert rb.alerts == ("NodeDiskAlmostFull",)
    assert rb.service == "storage"
    assert rb.tags == ("disk", "capacity")
    assert "ten percent free space" in rb.description
    paths = [s.path for s in rb.sections]
    assert paths == [
        (),
        ("NodeDiskAlmostFull", "Meaning"),
        ("NodeDiskAlmostFull", "Diagnosis"),
        ("NodeDiskAlmostFull", "Diagnosis", "Inodes"),
    ]
    diagnosis = rb.sections[2]
    assert "# not a heading" in diagnosis.body
    assert diagnosis.label == "NodeDiskAlmostFull > Diagnosis"
    assert [s.position for s in rb.sections] == [0, 1, 2, 3]


def test_parse_runbook_without_front_matter_uses_heading_then_file_name() -> None:
    rb = parse_runbook(LATENCY, path="slow.md")
    assert rb.title == "Slow responses"
    assert rb.description.startswith("Request latency")  # "Symptoms" describes it
    assert parse_runbook("Just text.", path="dir/high-cpu_usage.md").title == "high cpu usage"


def test_parse_runbook_description_falls_back_to_first_section() -> None:
    rb = parse_runbook("# T\n\n## Impact\n\nUsers cannot pay.\n\n## Fix\n\nRestart.", path="t.md")
    assert rb.description == "Users cannot pay."


def test_split_sections_cuts_long_sections_at_paragraphs() -> None:
    paragraph = "word " * 100
    body = "# Long\n\n" + "\n\n".join([paragraph] * 12)
    sections = split_sections(body)
    assert len(sections) > 1
    assert all(len(s.body) <= MAX_SECTION_CHARS for s in sections)
    assert all(s.path == ("Long",) for s in sections)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("---\ntitle: x\n# never closed\n", "not closed"),
        ("---\ntitle: [unclosed\n---\n# T\n", "not valid YAML at line"),
        ("---\n- a\n- b\n---\n# T\n", "must be a YAML mapping"),
    ],
)
def test_parse_runbook_broken_front_matter(text: str, reason: str) -> None:
    with pytest.raises(RunbookFileError, match=reason) as info:
        parse_runbook(text, path="bad.md")
    assert info.value.path == "bad.md"


def test_parse_runbook_empty_front_matter_is_fine() -> None:
    assert parse_runbook("---\n---\n# Title\n\nBody.", path="x.md").title == "Title"


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "empty"),
        (b"  \n\t\n", "empty"),
        (b"# T\x00\x01\x02", "binary"),
        (b"# caf\xe9", "not UTF-8"),
        (b"# big\n" + b"x" * 200, "too large"),
    ],
)
def test_read_runbook_file_refuses_unusable_files(
    tmp_path: Path, content: bytes, reason: str
) -> None:
    path = write(tmp_path, "f.md", content)
    with pytest.raises(RunbookFileError, match=reason):
        read_runbook_file(path, display="f.md", max_bytes=100)


# --- text normalisation and BM25 -------------------------------------------------------


def test_tokenize_splits_identifiers_and_normalises() -> None:
    assert tokenize("KubePodCrashLooping") == [
        "kube",
        "pod",
        "crash",
        "looping",
        "kubepodcrashlooping",
        "kubepod",
        "podcrash",
        "crashlooping",
    ]
    assert tokenize("KubeAPIDown")[:3] == ["kube", "api", "down"]
    assert tokenize("kube_pod_container_status_restarts_total") == [
        "kube",
        "pod",
        "container",
        "status",
        "restart",
        "total",
    ]
    assert tokenize("The pods are OOMKilled") == ["pod", "oom", "killed", "oomkilled"]
    assert tokenize("disk is full and node is down") == ["disk", "full", "node", "down"]
    assert tokenize("policies classes status") == ["policy", "class", "status"]


def test_strip_templates_drops_go_placeholders() -> None:
    text = "Pod {{ $labels.namespace }}/{{$labels.pod}} at {{ $value | humanizePercentage }}."
    assert tokenize(strip_templates(text)) == ["pod"]


def test_bm25_prefers_rarer_matching_terms() -> None:
    index = BM25([["disk", "full"], ["disk", "slow"], ["memory", "full"], ["cpu", "busy"]])
    scores = index.scores(["disk", "full"])
    assert max(scores, key=lambda i: scores[i]) == 0
    assert 3 not in scores
    assert BM25([]).scores(["x"]) == {}


def test_snippet_centres_on_the_first_match() -> None:
    text = "```bash\n" + "filler " * 60 + "the OOMKilled container restarted " + "tail " * 60
    out = snippet(text, tokenize("oomkilled"), width=80)  # lower case matches OOMKilled
    assert "OOMKilled" in out
    assert out.startswith("…") and out.endswith("…")
    assert "```" not in out
    assert snippet("short text", ["x"]) == "short text"


# --- VectorStore conformance (same tests for every implementation) ---------------------


@pytest_asyncio.fixture(params=["memory", "chroma"])
async def vector_store(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[VectorStore]:
    embedder = HashEmbedder(dimension=64)
    store: VectorStore
    if request.param == "memory":
        store = InMemoryVectorStore(embedder=embedder)
    else:
        store = await ChromaVectorStore.open(
            config=VectorStoreConfig(path=tmp_path / "chroma"), embedder=embedder, data_dir=tmp_path
        )
    yield store
    await store.close()


RECORDS = [
    VectorRecord(id="a", text="disk full on node", metadata={"kind": "doc", "doc": "d1"}),
    VectorRecord(id="b", text="memory pressure oom killed", metadata={"kind": "doc", "doc": "d2"}),
    VectorRecord(id="c", text="oom killed again", metadata={"kind": "section", "doc": "d2"}),
]


async def test_vector_store_upsert_get_count(vector_store: VectorStore) -> None:
    assert isinstance(vector_store.embedder, Embedder)
    assert await vector_store.count() == 0
    assert await vector_store.query("anything") == []
    await vector_store.upsert(RECORDS)
    assert await vector_store.count() == 3
    got = {r.id: r for r in await vector_store.get()}
    assert set(got) == {"a", "b", "c"}
    assert got["a"].text == "disk full on node"
    assert got["a"].metadata == {"kind": "doc", "doc": "d1"}
    assert got["a"].embedding is None
    assert [r.id for r in await vector_store.get(ids=["c", "zz"])] == ["c"]
    assert await vector_store.get(ids=[]) == []


async def test_vector_store_where_filters_are_anded(vector_store: VectorStore) -> None:
    await vector_store.upsert(RECORDS)
    assert {r.id for r in await vector_store.get(where={"doc": "d2"})} == {"b", "c"}
    assert [r.id for r in await vector_store.get(where={"doc": "d2", "kind": "doc"})] == ["b"]
    assert await vector_store.get(where={"doc": "nope"}) == []


async def test_vector_store_query_orders_by_similarity(vector_store: VectorStore) -> None:
    await vector_store.upsert(RECORDS)
    hits = await vector_store.query("oom killed", k=2)
    assert len(hits) == 2
    assert {h.id for h in hits} == {"b", "c"}
    assert hits[0].score >= hits[1].score
    assert hits[0].metadata["doc"] == "d2"
    assert hits[0].text
    filtered = await vector_store.query("oom killed", k=5, where={"kind": "doc"})
    assert [h.id for h in filtered][0] == "b"
    assert {h.id for h in filtered} == {"a", "b"}
    bare = await vector_store.query("oom killed", k=1, payload=False)
    assert bare[0].id in {"b", "c"} and bare[0].text == "" and bare[0].metadata == {}
    assert await vector_store.query("oom killed", k=0) == []


async def test_vector_store_upsert_replaces_and_keeps_given_vectors(
    vector_store: VectorStore,
) -> None:
    await vector_store.upsert(RECORDS)
    await vector_store.upsert([VectorRecord(id="a", text="cpu busy", metadata={"doc": "d9"})])
    [a] = await vector_store.get(ids=["a"])
    assert (a.text, a.metadata) == ("cpu busy", {"doc": "d9"})
    vector = vector_store.embedder.embed_documents(["memory pressure oom killed"])[0]
    await vector_store.upsert([VectorRecord(id="v", text="unrelated words", embedding=vector)])
    top = await vector_store.query("memory pressure oom killed", k=1)
    assert top[0].score == pytest.approx(1.0, abs=1e-3)
    assert top[0].id in {"b", "v"}


async def test_vector_store_delete_and_clear(vector_store: VectorStore) -> None:
    await vector_store.upsert(RECORDS)
    await vector_store.delete()  # neither ids nor where: nothing
    assert await vector_store.count() == 3
    await vector_store.delete(ids=["a"])
    await vector_store.delete(ids=[])
    assert await vector_store.count() == 2
    await vector_store.delete(where={"doc": "d2"})
    assert await vector_store.count() == 0
    await vector_store.upsert(RECORDS)
    await vector_store.clear()
    assert await vector_store.count() == 0


async def test_chroma_store_persists_and_refuses_another_embedder(tmp_path: Path) -> None:
    config = VectorStoreConfig(path=tmp_path / "c", collection="rb-test")
    first = await ChromaVectorStore.open(config=config, embedder=HashEmbedder(), data_dir=tmp_path)
    await first.upsert(RECORDS)
    await first.close()
    again = await ChromaVectorStore.open(config=config, embedder=HashEmbedder(), data_dir=tmp_path)
    assert await again.count() == 3
    assert "rb-test" in again.target
    with pytest.raises(StorageError, match="built with embedder 'hash-256'"):
        await ChromaVectorStore.open(
            config=config, embedder=HashEmbedder(dimension=32), data_dir=tmp_path
        )


async def test_chroma_store_default_directory_is_in_data_dir(tmp_path: Path) -> None:
    store = await ChromaVectorStore.open(
        config=VectorStoreConfig(), embedder=HashEmbedder(), data_dir=tmp_path
    )
    assert (tmp_path / "chroma").is_dir()
    await store.close()


async def test_chroma_store_unreachable_server_is_a_storage_error(tmp_path: Path) -> None:
    config = VectorStoreConfig(mode="http", host="127.0.0.1", port=9)  # discard port: refused
    with pytest.raises(StorageError, match="cannot open chroma http://127.0.0.1:9"):
        await ChromaVectorStore.open(config=config, embedder=HashEmbedder(), data_dir=tmp_path)


def test_hash_embedder_is_deterministic_and_normalised() -> None:
    embedder = HashEmbedder(dimension=32)
    [a, b] = embedder.embed_documents(["disk full", "disk full"])
    assert a == b
    assert sum(x * x for x in a) == pytest.approx(1.0)
    assert embedder.embed_queries([""]) == [[0.0] * 32]
    with pytest.raises(ValueError, match="at least 8"):
        HashEmbedder(dimension=4)


# --- ingest and search -----------------------------------------------------------------


@pytest_asyncio.fixture
async def store() -> RunbookStore:
    return await RunbookStore.open(InMemoryVectorStore(embedder=HashEmbedder()))


async def test_ingest_is_incremental(store: RunbookStore, tmp_path: Path) -> None:
    root = tmp_path / "runbooks"
    write(root, "node/disk.md", DISK)
    write(root, "memory.md", MEMORY)
    write(root, "latency.markdown", LATENCY)
    write(root, "notes.txt", "not a runbook")
    write(root, ".git/ignored.md", MEMORY)

    events: list[IngestEvent] = []
    first = await store.ingest(root, on_progress=events.append)
    assert (first.added, first.updated, first.unchanged, first.removed, first.skipped) == (
        3,
        0,
        0,
        0,
        0,
    )
    assert first.sections == 4 + 2 + 1
    assert sorted(e.path for e in events) == ["latency.markdown", "memory.md", "node/disk.md"]
    assert len(store) == 3
    records_before = await store.vector_store.count()

    second = await store.ingest(root)
    assert (second.added, second.unchanged, second.sections) == (0, 3, 0)
    assert await store.vector_store.count() == records_before

    write(root, "memory.md", MEMORY.replace("Raise the memory limit", "Double the limit"))
    (root / "latency.markdown").unlink()
    third = await store.ingest(root)
    assert (third.added, third.updated, third.unchanged, third.removed) == (0, 1, 1, 1)
    assert len(store) == 2
    assert await store.vector_store.count() == records_before - 2  # latency: doc + 1 section
    texts = " ".join(r.text for r in await store.vector_store.get())
    assert "Double the limit" in texts and "Raise the memory limit" not in texts
    assert "Slow responses" not in texts


async def test_ingest_skips_bad_files_and_goes_on(
    store: RunbookStore, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = tmp_path / "rb"
    write(root, "good.md", MEMORY)
    write(root, "empty.md", "")
    write(root, "binary.md", b"\x89PNG\r\n\x1a\n\x00\x00")
    write(root, "huge.md", "# Huge\n\n" + "x" * 5000)
    write(root, "broken.md", "---\ntitle: [oops\n---\n# Broken\n")
    with caplog.at_level(logging.WARNING, logger="tools.runbooks"):
        report = await store.ingest(root, max_bytes=4000)
    assert (report.added, report.skipped) == (1, 4)
    reasons = {s.path: s.reason for s in report.skipped_files}
    assert set(reasons) == {"empty.md", "binary.md", "huge.md", "broken.md"}
    assert reasons["binary.md"] == "binary content"
    assert "too large" in reasons["huge.md"]
    assert "not valid YAML" in reasons["broken.md"]
    for name in reasons:
        assert name in caplog.text


async def test_ingest_keeps_previous_version_of_a_file_that_breaks(
    store: RunbookStore, tmp_path: Path
) -> None:
    root = tmp_path / "rb"
    write(root, "memory.md", MEMORY)
    await store.ingest(root)
    write(root, "memory.md", "---\ntitle: [oops\n")
    report = await store.ingest(root)
    assert (report.skipped, report.removed) == (1, 0)
    assert len(store) == 1


async def test_ingest_single_file_and_missing_path(store: RunbookStore, tmp_path: Path) -> None:
    root = tmp_path / "rb"
    write(root, "memory.md", MEMORY)
    write(root, "other.md", LATENCY)
    await store.ingest(root)
    report = await store.ingest(root / "memory.md")
    assert (report.unchanged, report.removed) == (1, 0)
    assert len(store) == 2
    with pytest.raises(RunbookFileError, match="no such file"):
        await store.ingest(tmp_path / "missing")


async def test_two_roots_live_side_by_side(store: RunbookStore, tmp_path: Path) -> None:
    write(tmp_path / "a", "x.md", MEMORY)
    write(tmp_path / "b", "x.md", LATENCY)
    await store.ingest(tmp_path / "a")
    report = await store.ingest(tmp_path / "b")
    assert (report.added, report.removed) == (1, 0)
    assert len(store) == 2


@pytest.mark.parametrize("backend", ["memory", "chroma"])
async def test_search_ranks_the_matching_runbook_first(tmp_path: Path, backend: str) -> None:
    vectors: VectorStore
    if backend == "memory":
        vectors = InMemoryVectorStore(embedder=HashEmbedder())
    else:
        vectors = await ChromaVectorStore.open(
            config=VectorStoreConfig(path=tmp_path / "c"),
            embedder=HashEmbedder(),
            data_dir=tmp_path,
        )
    store = await RunbookStore.open(vectors)
    await store.ingest(SAMPLES)
    hits = await store.search("pods restarting OOMKilled, memory limit reached", k=3)
    assert len(hits) == 3
    top = hits[0]
    assert top.path == "memory-pressure-oomkilled.md"
    assert top.title == "Memory pressure and OOMKilled containers"
    assert "ContainerOOMKilled" in top.alerts
    assert top.section and top.snippet
    assert top.source == str(SAMPLES / "memory-pressure-oomkilled.md")
    assert 0 < top.score <= 1.0 and 0 <= top.relevance <= 1.0
    assert top.lexical_rank == 1
    assert hits[0].score >= hits[1].score >= hits[2].score

    # a new process sees the same store: the lexical index is rebuilt from the records
    reopened = await RunbookStore.open(vectors)
    assert [h.path for h in await reopened.search("certificate expired x509", k=1)] == [
        "certificate-expiry.md"
    ]
    await vectors.close()


async def test_search_edge_cases(store: RunbookStore) -> None:
    assert await store.search("anything") == []  # empty store
    await store.ingest(SAMPLES)
    assert await store.search("   ") == []
    assert await store.search("{{ $labels.pod }}") == []
    assert await store.search("disk", k=0) == []
    hits = await store.search("No space left on device {{ $labels.instance }}", k=20)
    assert hits[0].path == "disk-full.md"
    assert len({h.path for h in hits}) == len(hits) <= 10


async def test_refresh_picks_up_records_written_elsewhere(tmp_path: Path) -> None:
    vectors = InMemoryVectorStore(embedder=HashEmbedder())
    reader = await RunbookStore.open(vectors)
    writer = await RunbookStore.open(vectors)
    write(tmp_path, "memory.md", MEMORY)
    await writer.ingest(tmp_path)
    assert len(reader) == 0
    await reader.refresh()
    assert len(reader) == 1
    assert (await reader.stats()).sections == 2


# --- integration and tool --------------------------------------------------------------


async def test_runbook_integration_tool(store: RunbookStore) -> None:
    integration = RunbookIntegration(store, source="runbooks test")
    assert isinstance(integration, Integration)
    assert integration.configured
    empty = await integration.health()
    assert empty.state is HealthState.CONFIGURED and "ingest" in empty.reason
    [tool] = integration.tools()
    assert tool.name == "runbooks_search" and tool.integration == "runbooks"
    assert tool.summary.startswith("Find the team's runbooks")
    assert tool.input_schema()["properties"]["k"]["default"] == 5

    nothing = await tool.run({"query": "disk full"})
    assert nothing.status is ToolStatus.NO_DATA and nothing.error == "no runbooks ingested yet"

    await store.ingest(SAMPLES)
    health = await integration.health()
    assert health.state is HealthState.HEALTHY and "10 runbooks" in health.reason
    result = await tool.run(SearchRunbooksArgs(query="TLS certificate expires soon", k=2))
    assert result.status is ToolStatus.OK
    assert result.query == "TLS certificate expires soon" and result.source == "runbooks test"
    assert len(result.data) == 2
    assert result.data[0]["path"] == "certificate-expiry.md"
    assert {"path", "title", "section", "score", "snippet"} <= set(result.data[0])

    unmatched = await tool.run({"query": "{{ $value }}"})
    assert (
        unmatched.status is ToolStatus.NO_DATA and unmatched.error == "no runbook matches the query"
    )
    invalid = await tool.run({"query": "disk", "k": 0})
    assert invalid.status is ToolStatus.ERROR and "k" in (invalid.error or "")


class _BrokenStore(InMemoryVectorStore):
    async def count(self) -> int:
        raise StorageError("chroma http://127.0.0.1:9/runbooks: count failed: refused")

    async def query(self, text: str, **kwargs: object) -> list[VectorHit]:
        raise StorageError("chroma http://127.0.0.1:9/runbooks: query failed: refused")


async def test_runbook_integration_unhealthy_store() -> None:
    vectors = _BrokenStore(embedder=HashEmbedder())
    store = await RunbookStore.open(vectors)
    integration = RunbookIntegration(store)
    health = await integration.health()
    assert health.state is HealthState.UNHEALTHY and "refused" in health.reason
    await vectors.upsert(
        [VectorRecord(id="x#doc", text="disk full", metadata={"kind": "doc", "doc": "x"})]
    )
    await store.refresh()
    result = await integration.tools()[0].run({"query": "disk full"})
    assert result.status is ToolStatus.ERROR and "query failed: refused" in (result.error or "")


# --- evaluation ------------------------------------------------------------------------


async def test_evaluate_runbooks_on_a_tiny_corpus(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    write(corpus, "node/disk.md", DISK)
    write(corpus, "memory.md", MEMORY)
    write(corpus, "latency.md", LATENCY)
    queries = tmp_path / "q.jsonl"
    rows = [
        {
            "q": "Filesystem has less than ten percent free space",
            "expected_runbook": "node/disk.md",
        },
        {"q": "containers OOMKilled at the memory limit", "expected_runbook": "memory.md"},
        {"q": "p99 request latency above objective", "expected_runbook": "latency.md"},
    ]
    queries.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n", encoding="utf-8")
    result = await evaluate_runbooks(
        queries=queries, corpus=corpus, field="q", store_dir=tmp_path / "s", embedder=HashEmbedder()
    )
    assert {"n", "recall_at_1", "recall_at_3", "mrr", "p50_ms", "p95_ms"} <= set(result)
    assert result["n"] == 3 and result["runbooks"] == 3
    assert result["recall_at_1"] == result["recall_at_3"] == result["mrr"] == 1.0
    assert result["misses"] == []
    assert 0 < result["p50_ms"] <= result["p95_ms"]


def test_load_queries_errors(tmp_path: Path) -> None:
    path = tmp_path / "q.jsonl"
    path.write_text('{"other": 1}\n', encoding="utf-8")
    with pytest.raises(ToolInputError, match="q.jsonl:1"):
        load_queries(path, field="q")
    path.write_text("\n", encoding="utf-8")
    with pytest.raises(ToolInputError, match="no query records"):
        load_queries(path, field="q")
    with pytest.raises(ToolInputError, match="cannot read"):
        load_queries(tmp_path / "missing.jsonl", field="q")
