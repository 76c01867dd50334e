"""The runbook store and the ``runbooks_search`` tool.

:class:`RunbookStore` ingests Markdown runbooks into a :class:`~memory.vectorstore.VectorStore`
(one document record and one record per section, see :mod:`tools.runbook_ingest`) and
answers hybrid searches (BM25 + embeddings, fused by rank, see :mod:`tools.runbook_search`).

Ingest is incremental, keyed by content hash: unchanged files are not embedded again,
changed files are replaced, files gone from the ingested directory are removed, and files
that cannot be used are skipped with a warning naming them while the ingest goes on.

The lexical index is kept in memory and rebuilt from the store's records when the store
is opened and after each ingest. The vector store is thus the only source of truth: no
second file to keep in step, nothing to migrate, and a store filled by another process
(or replica) is picked up by :meth:`RunbookStore.refresh`. Rebuilding costs about
0.1 s per hundred runbooks, off the event loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from memory.errors import StorageError
from memory.vectorstore import VectorStore
from tools.actions.commands import CommandSuggestion, suggestions
from tools.base import Health, HealthState, Tool, ToolResult, ToolStatus
from tools.runbook_ingest import (
    DEFAULT_MAX_BYTES,
    Runbook,
    RunbookFileError,
    content_hash,
    find_runbook_files,
    parse_runbook,
    read_runbook_file,
    runbook_records,
)
from tools.runbook_search import (
    LexicalIndex,
    dense_scores,
    fuse,
    snippet,
    strip_templates,
    tokenize,
)

logger = logging.getLogger(__name__)

SAMPLE_RUNBOOKS = Path(__file__).resolve().parent / "sample_runbooks"
"""The project's own example runbooks (used by the demo and the tests)."""

DENSE_DEPTH = 128
"""Nearest records asked of the vector store per search (at least; 8 × k if larger)."""

IngestAction = Literal["added", "updated", "unchanged", "removed", "skipped"]


@dataclass(frozen=True, slots=True)
class IngestEvent:
    """What happened to one file during an ingest (for progress output)."""

    path: str
    action: IngestAction
    detail: str = ""


class SkippedFile(BaseModel):
    """A file the ingest could not use, and why."""

    path: str
    reason: str


class IngestReport(BaseModel):
    """Counts of one ingest run."""

    root: str
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    skipped: int = 0
    sections: int = Field(default=0, description="Section records written by this run.")
    skipped_files: list[SkippedFile] = Field(default_factory=list)

    def count(self, action: IngestAction) -> None:
        """Add one to the counter of ``action``."""
        setattr(self, action, getattr(self, action) + 1)


class RunbookHit(BaseModel):
    """One search result."""

    path: str = Field(description="Runbook path relative to the directory it was ingested from.")
    title: str
    section: str = Field(description="Heading path of the best-matching section.")
    score: float = Field(
        description="Fused rank score: 1.0 = first for keywords and for meaning. Relative to "
        "the other hits; use relevance to judge a match on its own."
    )
    relevance: float = Field(
        description="Best cosine similarity of the query to the runbook or one of its "
        "sections (0-1); comparable across queries, below ~0.3 usually means unrelated."
    )
    snippet: str
    source: str = Field(description="Absolute path of the file when it was ingested.")
    alerts: list[str] = Field(default_factory=list, description="Alerts the runbook covers.")
    actions: list[CommandSuggestion] = Field(
        default_factory=list,
        description="Catalogue actions the section's steps name (proposable, never run here).",
    )
    lexical_rank: int | None = None
    dense_rank: int | None = None


class RunbookStats(BaseModel):
    """Size of the runbook store."""

    runbooks: int
    sections: int
    records: int


def _root_key(root: Path) -> str:
    return hashlib.sha256(str(root).encode()).hexdigest()[:10]


def _resolve(path: Path) -> tuple[Path, bool]:
    resolved = path.expanduser().resolve()
    if not resolved.exists():
        raise RunbookFileError(str(resolved), "no such file or directory")
    return resolved, resolved.is_dir()


@dataclass(frozen=True, slots=True)
class _Planned:
    """One file's fate: unchanged (no runbook), to write (runbook) or skipped (error)."""

    rel: str
    digest: str = ""
    runbook: Runbook | None = None
    error: RunbookFileError | None = None


def _plan(path: Path, root: Path, existing: dict[str, str], max_bytes: int) -> list[_Planned]:
    """Read, hash and parse every runbook file under ``path`` (blocking)."""
    planned = []
    for file in find_runbook_files(path):
        rel = file.relative_to(root).as_posix()
        try:
            raw = read_runbook_file(file, display=rel, max_bytes=max_bytes)
            digest = content_hash(raw)
            if existing.get(rel) == digest:
                planned.append(_Planned(rel, digest))
                continue
            runbook = parse_runbook(raw.decode("utf-8"), path=rel)
        except RunbookFileError as exc:
            planned.append(_Planned(rel, error=exc))
            continue
        planned.append(_Planned(rel, digest, runbook))
    return planned


class RunbookStore:
    """Runbooks in a vector store plus an in-memory BM25 index; build with :meth:`open`."""

    def __init__(self, *, store: VectorStore, index: LexicalIndex) -> None:
        self._store = store
        self._index = index
        self._ingest_lock = asyncio.Lock()

    @classmethod
    async def open(cls, store: VectorStore) -> RunbookStore:
        """Wrap ``store`` and build the lexical index from its records."""
        index = await cls._build_index(store)
        logger.debug("runbook store opened with %d runbooks", len(index))
        return cls(store=store, index=index)

    @staticmethod
    async def _build_index(store: VectorStore) -> LexicalIndex:
        records = await store.get()
        return await asyncio.to_thread(LexicalIndex, records)

    @property
    def vector_store(self) -> VectorStore:
        """The underlying vector store."""
        return self._store

    def __len__(self) -> int:
        return len(self._index)

    async def refresh(self) -> None:
        """Rebuild the lexical index from the store (after another process ingested)."""
        self._index = await self._build_index(self._store)

    async def stats(self) -> RunbookStats:
        """Runbooks and sections known to the index; records in the store (probes it)."""
        records = await self._store.count()
        return RunbookStats(
            runbooks=len(self._index), sections=len(self._index.sections), records=records
        )

    async def ingest(
        self,
        path: Path,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        on_progress: Callable[[IngestEvent], None] | None = None,
    ) -> IngestReport:
        """Bring the store in line with the runbooks under ``path`` (a directory or one file).

        Paths are stored relative to the directory. Files under the same directory that
        were ingested before and are gone now are removed; a file that is skipped keeps
        its previously ingested version.

        Raises:
            RunbookFileError: ``path`` does not exist.
            StorageError: The vector store failed.
        """
        path, is_dir = await asyncio.to_thread(_resolve, path)
        root = path.parent if not is_dir else path
        report = IngestReport(root=str(root))
        key = _root_key(root)

        def emit(rel: str, action: IngestAction, detail: str = "") -> None:
            report.count(action)
            if on_progress is not None:
                on_progress(IngestEvent(rel, action, detail))

        async with self._ingest_lock:
            existing = {
                str(r.metadata.get("path")): str(r.metadata.get("hash"))
                for r in await self._store.get(where={"kind": "doc", "root": str(root)})
            }
            # File reads and parsing are quick and blocking: do them all in one thread.
            planned = await asyncio.to_thread(_plan, path, root, existing, max_bytes)
            for item in planned:
                if item.error is not None:
                    logger.warning("skipping runbook %s", item.error)
                    report.skipped_files.append(
                        SkippedFile(path=item.rel, reason=item.error.reason)
                    )
                    emit(item.rel, "skipped", item.error.reason)
                elif item.runbook is None:
                    emit(item.rel, "unchanged")
                else:
                    doc_key = f"{key}:{item.rel}"
                    records = runbook_records(
                        item.runbook, doc_key=doc_key, root=str(root), digest=item.digest
                    )
                    await self._store.delete(where={"doc": doc_key})
                    await self._store.upsert(records)
                    report.sections += len(records) - 1
                    action: IngestAction = "updated" if item.rel in existing else "added"
                    emit(item.rel, action, item.runbook.title)
            if is_dir:
                for rel in sorted(set(existing) - {item.rel for item in planned}):
                    await self._store.delete(where={"doc": f"{key}:{rel}"})
                    emit(rel, "removed")
            self._index = await self._build_index(self._store)
        logger.info(
            "ingested %s: %d added, %d updated, %d unchanged, %d removed, %d skipped",
            root,
            report.added,
            report.updated,
            report.unchanged,
            report.removed,
            report.skipped,
        )
        return report

    async def search(self, query: str, *, k: int = 5) -> list[RunbookHit]:
        """The ``k`` runbooks that best match ``query``, best first.

        ``query`` may be an alert's summary and description (template placeholders are
        ignored) or free text. Each hit names its best-matching section.
        """
        text = " ".join(strip_templates(query).split())
        index = self._index
        if not text or k <= 0 or not len(index):
            return []
        tokens = tokenize(text)
        lexical, lexical_sections = index.score(tokens)
        # Ids and scores only: the index already holds every record's metadata.
        hits = await self._store.query(text, k=max(DENSE_DEPTH, 8 * k), payload=False)
        resolved = index.resolve(hits)
        dense, dense_sections = dense_scores(resolved)
        relevance: dict[str, float] = {}
        for hit in resolved:
            doc = str(hit.metadata["doc"])
            relevance[doc] = max(relevance.get(doc, 0.0), hit.score)
        section_doc = {sid: str(r.metadata["doc"]) for sid, r in index.sections.items()}
        ranked = fuse(
            lexical=lexical,
            dense=dense,
            lexical_sections=lexical_sections,
            dense_sections=dense_sections,
            section_doc=section_doc,
            k=k,
        )
        results = []
        for item in ranked:
            meta = index.documents[item.doc].metadata
            section = index.sections.get(item.section_id or "")
            body = section.text.partition("\n")[2] if section else index.documents[item.doc].text
            alerts = str(meta.get("alerts", ""))
            results.append(
                RunbookHit(
                    path=str(meta["path"]),
                    title=str(meta.get("title", "")),
                    section=str(section.metadata.get("section", "")) if section else "",
                    score=item.score,
                    relevance=round(max(0.0, min(1.0, relevance.get(item.doc, 0.0))), 4),
                    snippet=snippet(body, tokens),
                    source=str(Path(str(meta["root"])) / str(meta["path"])),
                    alerts=[a for a in alerts.split(",") if a],
                    actions=suggestions(section.text if section else body),
                    lexical_rank=item.lexical_rank,
                    dense_rank=item.dense_rank,
                )
            )
        return results


class SearchRunbooksArgs(BaseModel):
    """Arguments of ``runbooks_search``."""

    query: str = Field(
        min_length=1,
        max_length=4000,
        description=(
            "What to look for: an alert's summary and description, or a symptom in plain "
            "words, e.g. 'checkout pods restarting OOMKilled'."
        ),
    )
    k: int = Field(default=5, ge=1, le=20, description="How many runbooks to return.")


class RunbookIntegration:
    """The team's runbooks as an integration (always configured: the store is local)."""

    name = "runbooks"

    def __init__(self, store: RunbookStore, *, source: str = "runbook store") -> None:
        self._store = store
        self._source = source

    @property
    def configured(self) -> bool:
        """Always true: the store needs no settings."""
        return True

    async def health(self) -> Health:
        """Healthy when the store answers and holds runbooks."""
        try:
            stats = await self._store.stats()
        except StorageError as exc:
            return Health(integration=self.name, state=HealthState.UNHEALTHY, reason=str(exc))
        if stats.runbooks == 0:
            return Health(
                integration=self.name,
                state=HealthState.CONFIGURED,
                reason="no runbooks ingested yet (sre-copilot runbooks ingest PATH)",
            )
        return Health(
            integration=self.name,
            state=HealthState.HEALTHY,
            reason=f"{stats.runbooks} runbooks, {stats.sections} sections",
        )

    def tools(self) -> list[Tool[Any]]:
        """``runbooks_search``."""
        return [
            Tool.define(
                self._runbooks_search,
                args_model=SearchRunbooksArgs,
                integration=self.name,
                name="runbooks_search",
            )
        ]

    async def _runbooks_search(self, args: SearchRunbooksArgs) -> ToolResult:
        """Find the team's runbooks that match an alert or a symptom.

        Pass the alert's summary and description (or a plain description of the
        symptom). Returns up to k runbooks, best first, each with its path, title, the
        best-matching section, a relevance score (1.0 = first by both keywords and
        meaning) and a snippet to quote.
        """
        try:
            hits = await self._store.search(args.query, k=args.k)
        except StorageError as exc:
            return ToolResult(
                tool="runbooks_search",
                status=ToolStatus.ERROR,
                source=self._source,
                query=args.query,
                error=str(exc),
            )
        if not hits:
            reason = (
                "no runbooks ingested yet"
                if len(self._store) == 0
                else "no runbook matches the query"
            )
            return ToolResult(
                tool="runbooks_search",
                status=ToolStatus.NO_DATA,
                source=self._source,
                query=args.query,
                error=reason,
            )
        return ToolResult(
            tool="runbooks_search",
            status=ToolStatus.OK,
            source=self._source,
            query=args.query,
            data=[hit.model_dump() for hit in hits],
        )
