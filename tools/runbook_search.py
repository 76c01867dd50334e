"""Hybrid runbook ranking: a field-weighted BM25 index and rank fusion with dense scores.

Both retrievers rank *runbooks*, each from two granularities:

* lexical: BM25 over one document unit per runbook (title, first heading and alert
  names repeated :data:`TITLE_WEIGHT` times, plus the description) plus the best BM25
  score among its sections;
* dense: cosine similarity of the query to the runbook's document record plus the best
  similarity among its sections (from the vector store's nearest neighbours).

The two runbook rankings are merged with reciprocal-rank fusion (k = 60, the usual
constant), which needs no score calibration between BM25 and cosine.

Text normalisation, the same for runbooks and queries: Go-template placeholders of alert
annotations (``{{ $labels.pod }}``) are dropped; identifiers are split at camelCase,
PascalCase, digits, ``_`` and ``-`` (``KubePodCrashLooping`` → kube pod crash looping,
``kube_pod_container_status_restarts_total`` → kube pod container status restarts
total), and camelCase identifiers also give their joined forms (oomkilled,
crashlooping); tokens are lowercased, English stop words removed and plural ``s``
stripped.

The index lives in memory and is rebuilt from the vector store's records, so the store
stays the single source of truth.
"""

from __future__ import annotations

import logging
import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from memory.vectorstore import VectorHit, VectorRecord

logger = logging.getLogger(__name__)

TITLE_WEIGHT = 3
"""How many times title, first heading and alert names count in the document unit."""

RRF_K = 60
"""Reciprocal-rank fusion constant (Cormack et al. 2009)."""

_FENCE_MARK = re.compile(r"(```|~~~)[\w+-]*")
_TEMPLATE = re.compile(r"\{\{.*?\}\}", re.S)
_WORD = re.compile(r"[A-Za-z0-9]+")
_IDENTIFIER_PART = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")
# English function words. State words that matter in operations (down, up, off, out,
# full, empty) are deliberately kept.
_STOP_WORDS = frozenset(
    """a an the and or of to in on for is are be been was were has have had it its this
    that these those with as at by from not no any all can will should would may might
    than then there their they them which who what when where why how into over under
    more most less very such only also if else but so do does did isn your you our we i
    me my""".split()
)


def strip_templates(text: str) -> str:
    """Drop Go-template placeholders (``{{ ... }}``) of unrendered alert annotations."""
    return _TEMPLATE.sub(" ", text)


def _stem(token: str) -> str:
    """Strip English plural endings (an S-stemmer; keeps -ss, -us, -is)."""
    if len(token) <= 3:
        return token
    if token.endswith("ies") and len(token) > 4:
        return token[:-3] + "y"
    if token.endswith("sses"):
        return token[:-2]
    if token.endswith("s") and not token.endswith(("ss", "us", "is")):
        return token[:-1]
    return token


def _word_tokens(word: str) -> list[str]:
    """Tokens of one alphanumeric word: its identifier parts, plus joined forms.

    ``OOMKilled`` gives oom, killed and oomkilled, so that a query typed in lower case
    (``oomkilled``, ``crashlooping``) still meets the identifier; adjacent pairs are
    joined too (``CrashLooping`` inside ``KubePodCrashLooping``).
    """
    parts = [p.lower() for p in _IDENTIFIER_PART.findall(word)]
    tokens = [_stem(p) for p in parts if p not in _STOP_WORDS]
    if len(parts) > 1:
        tokens.append(_stem(word.lower()))
        if len(parts) > 2:
            tokens.extend(_stem(a + b) for a, b in zip(parts, parts[1:], strict=False))
    return tokens


def tokenize(text: str) -> list[str]:
    """Normalised search tokens of ``text`` (see the module docstring)."""
    return [token for word in _WORD.findall(text) for token in _word_tokens(word)]


class BM25:
    """Okapi BM25 over a fixed set of token lists, with an inverted index."""

    def __init__(self, units: Sequence[Sequence[str]], *, k1: float = 1.2, b: float = 0.75):
        self._k1 = k1
        self._b = b
        self._lengths = [len(u) for u in units]
        self._avg = (sum(self._lengths) / len(units)) if units else 0.0
        self._postings: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for index, unit in enumerate(units):
            for token, count in Counter(unit).items():
                self._postings[token].append((index, count))
        n = len(units)
        self._idf = {
            t: math.log(1 + (n - len(p) + 0.5) / (len(p) + 0.5)) for t, p in self._postings.items()
        }

    def scores(self, query: Iterable[str]) -> dict[int, float]:
        """Scores of the units that share at least one token with ``query``."""
        out: dict[int, float] = defaultdict(float)
        for token, q_count in Counter(query).items():
            idf = self._idf.get(token)
            if idf is None:
                continue
            for index, tf in self._postings[token]:
                norm = self._k1 * (1 - self._b + self._b * self._lengths[index] / self._avg)
                out[index] += q_count * idf * tf * (self._k1 + 1) / (tf + norm)
        return dict(out)


@dataclass(frozen=True, slots=True)
class Ranked:
    """Per-runbook evidence for one query.

    Attributes:
        doc: The runbook's key.
        score: Fused score, scaled so that first in both rankings is 1.0.
        lexical_rank: 1-based rank in the lexical ranking, or ``None``.
        dense_rank: 1-based rank in the dense ranking, or ``None``.
        section_id: Record id of the best-matching section, or ``None``.
    """

    doc: str
    score: float
    lexical_rank: int | None
    dense_rank: int | None
    section_id: str | None


class LexicalIndex:
    """BM25 over runbook document units and section units, built from store records."""

    def __init__(self, records: Sequence[VectorRecord]) -> None:
        self.documents: dict[str, VectorRecord] = {}
        self.sections: dict[str, VectorRecord] = {}
        for record in records:
            doc = str(record.metadata.get("doc", ""))
            if record.metadata.get("kind") == "doc":
                self.documents[doc] = record
            elif record.metadata.get("kind") == "section":
                self.sections[record.id] = record
        self._documents_by_id = {r.id: r for r in self.documents.values()}
        self._doc_keys = list(self.documents)
        self._section_ids = list(self.sections)
        self._section_doc = [str(self.sections[s].metadata["doc"]) for s in self._section_ids]
        self._doc_bm25 = BM25([self._document_tokens(self.documents[d]) for d in self._doc_keys])
        self._section_bm25 = BM25([tokenize(self.sections[s].text) for s in self._section_ids])

    @staticmethod
    def _document_tokens(record: VectorRecord) -> list[str]:
        meta = record.metadata
        fields = " ".join(str(meta.get(k, "")) for k in ("title", "heading", "alerts"))
        # The record's text already holds these fields once.
        return tokenize(fields) * (TITLE_WEIGHT - 1) + tokenize(record.text)

    def __len__(self) -> int:
        return len(self.documents)

    def resolve(self, hits: Sequence[VectorHit]) -> list[VectorHit]:
        """Attach the index's metadata to id-only hits; drop ids the index does not know."""
        out = []
        for hit in hits:
            record = self.sections.get(hit.id) or self._documents_by_id.get(hit.id)
            if record is not None:
                out.append(VectorHit(hit.id, record.text, record.metadata, hit.score))
        return out

    def score(self, tokens: Sequence[str]) -> tuple[dict[str, float], dict[str, float]]:
        """Runbook scores (document unit + best section) and section scores for ``tokens``."""
        docs: dict[str, float] = {
            self._doc_keys[i]: s for i, s in self._doc_bm25.scores(tokens).items()
        }
        sections: dict[str, float] = {}
        best: dict[str, float] = {}
        for i, s in self._section_bm25.scores(tokens).items():
            sections[self._section_ids[i]] = s
            doc = self._section_doc[i]
            best[doc] = max(best.get(doc, 0.0), s)
        for doc, s in best.items():
            docs[doc] = docs.get(doc, 0.0) + s
        return docs, sections


def dense_scores(hits: Sequence[VectorHit]) -> tuple[dict[str, float], dict[str, float]]:
    """Runbook scores (document record + best section) and section scores from store hits.

    A runbook whose document record (or every section) is beyond the hits gets the lowest
    similarity seen for the missing part: a bound, not a guess.
    """
    if not hits:
        return {}, {}
    floor = min(h.score for h in hits)
    doc_part: dict[str, float] = {}
    section_part: dict[str, float] = {}
    sections: dict[str, float] = {}
    for hit in hits:
        doc = str(hit.metadata.get("doc", ""))
        if hit.metadata.get("kind") == "doc":
            doc_part[doc] = hit.score
        else:
            sections[hit.id] = hit.score
            section_part[doc] = max(section_part.get(doc, floor), hit.score)
    docs = {
        d: doc_part.get(d, floor) + section_part.get(d, floor)
        for d in set(doc_part) | set(section_part)
    }
    return docs, sections


def _ranks(scores: Mapping[str, float]) -> dict[str, int]:
    ordered = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))
    return {key: rank for rank, (key, _) in enumerate(ordered, start=1)}


def fuse(
    *,
    lexical: Mapping[str, float],
    dense: Mapping[str, float],
    lexical_sections: Mapping[str, float],
    dense_sections: Mapping[str, float],
    section_doc: Mapping[str, str],
    k: int,
) -> list[Ranked]:
    """Merge the runbook rankings by reciprocal rank; pick each runbook's best section."""
    lex_rank = _ranks({d: s for d, s in lexical.items() if s > 0})
    dense_rank = _ranks(dense)
    fused: dict[str, float] = defaultdict(float)
    for ranks in (lex_rank, dense_rank):
        for doc, rank in ranks.items():
            fused[doc] += 1.0 / (RRF_K + rank)
    top = sorted(fused.items(), key=lambda kv: (-kv[1], kv[0]))[:k]
    wanted = {doc for doc, _ in top}

    section_fused: dict[str, float] = defaultdict(float)
    for scores in (lexical_sections, dense_sections):
        in_top = {s: v for s, v in scores.items() if section_doc.get(s) in wanted and v > 0}
        for section, rank in _ranks(in_top).items():
            section_fused[section] += 1.0 / (RRF_K + rank)
    best_section: dict[str, tuple[float, str]] = {}
    for section, value in section_fused.items():
        doc = section_doc[section]
        if doc not in best_section or (value, section) > best_section[doc]:
            best_section[doc] = (value, section)

    best_possible = 2.0 / (RRF_K + 1)
    return [
        Ranked(
            doc=doc,
            score=round(value / best_possible, 4),
            lexical_rank=lex_rank.get(doc),
            dense_rank=dense_rank.get(doc),
            section_id=best_section[doc][1] if doc in best_section else None,
        )
        for doc, value in top
    ]


def snippet(text: str, tokens: Sequence[str], *, width: int = 240) -> str:
    """About ``width`` characters of ``text`` around the first query token found in it."""
    body = " ".join(_FENCE_MARK.sub(" ", text).split())
    if len(body) <= width:
        return body
    wanted = set(tokens)
    start = 0
    for match in _WORD.finditer(body):
        if wanted.intersection(_word_tokens(match.group())):
            # Begin at a word boundary a little before the match, to give context.
            lead = max(0, match.start() - width // 4)
            space = body.find(" ", lead)
            start = space + 1 if lead and 0 <= space < match.start() else lead
            break
    end = min(len(body), start + width)
    if end < len(body):
        cut = body.rfind(" ", start, end)
        end = cut if cut > start else end
    return ("…" if start else "") + body[start:end] + ("…" if end < len(body) else "")
