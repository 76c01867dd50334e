"""Retrieval evaluation of the runbook store against a labelled query set.

The query file is JSON Lines; each record has the query text under some field (for
example ``query_without_name``) and the gold answer ``expected_runbook``, a path
relative to the corpus directory. The corpus is ingested into a fresh Chroma store with
the production embedder, then every query is searched once.

Figures: recall@1 and recall@3 (gold runbook among the first k results), MRR@10 (1/rank,
0 beyond 10), and p50/p95 search latency in milliseconds measured per query after the
ingest and after the model is loaded.
"""

from __future__ import annotations

import asyncio
import json
import logging
import statistics
import time
from pathlib import Path
from typing import Any

from memory.config import VectorStoreConfig
from memory.errors import ToolInputError
from memory.vectorstore import ChromaVectorStore, Embedder, MiniLMEmbedder
from tools.runbooks import RunbookStore

logger = logging.getLogger(__name__)

MRR_DEPTH = 10


def load_queries(path: Path, *, field: str) -> list[tuple[str, str]]:
    """``(query text, expected runbook)`` pairs from a JSON Lines file.

    Raises:
        ToolInputError: The file is unreadable, or a record lacks ``field`` or
            ``expected_runbook``.
    """
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ToolInputError(f"cannot read queries {path}: {exc.strerror or exc}") from exc
    pairs = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            pairs.append((str(record[field]), str(record["expected_runbook"])))
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise ToolInputError(
                f"{path}:{number}: not a query record with {field!r} and 'expected_runbook' "
                f"({type(exc).__name__}: {exc})"
            ) from exc
    if not pairs:
        raise ToolInputError(f"{path}: no query records")
    return pairs


def _percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (no interpolation: honest with few samples)."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


async def evaluate_runbooks(
    *,
    queries: Path,
    corpus: Path,
    field: str,
    store_dir: Path,
    embedder: Embedder | None = None,
) -> dict[str, Any]:
    """Ingest ``corpus`` into a fresh store in ``store_dir`` and score every query.

    Args:
        queries: JSON Lines query records.
        corpus: Directory of runbooks; ``expected_runbook`` is relative to it.
        field: Record field holding the query text.
        store_dir: Empty scratch directory for the Chroma store.
        embedder: Defaults to :class:`~memory.vectorstore.MiniLMEmbedder`.

    Returns:
        ``{"n", "recall_at_1", "recall_at_3", "mrr", "p50_ms", "p95_ms"}`` plus
        ``"field"``, ``"runbooks"`` (ingested) and ``"misses"`` (records whose gold was
        not first, with the rank found or ``None``).
    """
    pairs = load_queries(queries, field=field)
    if embedder is None:
        embedder = MiniLMEmbedder()
    if isinstance(embedder, MiniLMEmbedder):
        await asyncio.to_thread(embedder.warm_up)
    vectors = await ChromaVectorStore.open(
        config=VectorStoreConfig(path=store_dir / "chroma", collection="runbook-eval"),
        embedder=embedder,
        data_dir=store_dir,
    )
    try:
        store = await RunbookStore.open(vectors)
        report = await store.ingest(corpus)
        await store.search("warm up", k=1)  # first query pays one-off allocations
        hits_at_1 = hits_at_3 = 0
        reciprocal = 0.0
        latencies: list[float] = []
        misses: list[dict[str, Any]] = []
        for text, expected in pairs:
            started = time.perf_counter()
            results = await store.search(text, k=MRR_DEPTH)
            latencies.append((time.perf_counter() - started) * 1000)
            found = [hit.path for hit in results]
            rank = found.index(expected) + 1 if expected in found else None
            hits_at_1 += rank == 1
            hits_at_3 += rank is not None and rank <= 3
            reciprocal += 1 / rank if rank else 0.0
            if rank != 1:
                misses.append({"expected": expected, "rank": rank, "top": found[:3]})
    finally:
        await vectors.close()
    n = len(pairs)
    return {
        "n": n,
        "recall_at_1": round(hits_at_1 / n, 4),
        "recall_at_3": round(hits_at_3 / n, 4),
        "mrr": round(reciprocal / n, 4),
        "p50_ms": round(statistics.median(latencies), 2),
        "p95_ms": round(_percentile(latencies, 95), 2),
        "field": field,
        "runbooks": report.added + report.updated + report.unchanged,
        "misses": misses,
    }
