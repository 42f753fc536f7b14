"""Article text as dense vectors, with numpy only.

The serving process has no scikit-learn, so the fitted TF-IDF + truncated SVD is kept as plain
arrays (vocabulary, idf, SVD components) and applied here. The tokenizer lives here too and is
the one the fitter (`components.content.fit`) hands to scikit-learn: fit-time and apply-time
texts are cut into the same tokens, so the two transforms agree (fit_test checks it against
scikit-learn's own pipeline).

A row is [SVD projection of the article's TF-IDF | one-hot section x section_weight], L2
normalised. An article with no known token has a zero text part (its section alone places it);
with no known section either, its row is zero. On disk: `content.npz` (idf, components; loaded
with allow_pickle=False) and `content.json` (vocabulary, sections, params): no pickle.
"""

from __future__ import annotations

import json
import os
import re
import unicodedata
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

FORMAT_VERSION = 1
ARRAYS = "content.npz"
META = "content.json"

_TOKEN = re.compile(r"[a-z0-9]+")
# Small on purpose: TF-IDF already weighs common words down; these only waste vocabulary slots.
STOP_WORDS = frozenset(
    """an and are as at be been but by can could did do does for from had has have he her his how
    if in into is it its may might more most not of on or our over she should so than that the their
    them then these they this those to up was we were what when where which who why will with would
    you your""".split()
)


def tokenize(text: str) -> list[str]:
    """Lowercase, accents stripped, runs of [a-z0-9] ("open-source" -> open, source) of 2+
    characters, minus STOP_WORDS. The one tokenizer of both fit and transform."""
    folded = unicodedata.normalize("NFKD", text.lower()).encode("ascii", "ignore").decode("ascii")
    return [t for t in _TOKEN.findall(folded) if len(t) > 1 and t not in STOP_WORDS]


def article_text(article: Mapping[str, Any]) -> str:
    """Title, abstract, tags and body (when present) as one text; missing fields are skipped."""
    tags = article.get("tags") or ()
    parts = [
        article.get("title"),
        article.get("abstract"),
        " ".join(str(t) for t in tags),
        article.get("body"),
    ]
    return "\n".join(str(p) for p in parts if p)


def _unit_rows(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return np.divide(matrix, norms, out=np.zeros_like(matrix), where=norms > 0)


@dataclass(frozen=True, eq=False)
class ContentModel:
    vocabulary: dict[str, int]  # token -> column
    idf: np.ndarray  # (vocab,) float32: scikit-learn's smoothed idf, ln((1 + n) / (1 + df)) + 1
    components: np.ndarray  # (n_components, vocab) float32: TruncatedSVD.components_
    sections: list[str]
    section_weight: float
    params: dict[str, Any] = field(default_factory=dict)  # how it was fitted (for the record)

    def __post_init__(self) -> None:
        object.__setattr__(self, "idf", np.asarray(self.idf, dtype=np.float32))
        object.__setattr__(self, "components", np.asarray(self.components, dtype=np.float32))
        n = len(self.vocabulary)
        if sorted(self.vocabulary.values()) != list(range(n)):
            raise ValueError(f"vocabulary: columns must be 0..{n - 1}, each once")
        if self.idf.shape != (n,) or self.components.ndim != 2 or self.components.shape[1] != n:
            raise ValueError(
                f"idf {self.idf.shape} and components {self.components.shape} do not fit a vocabulary of {n}"
            )
        if len(set(self.sections)) != len(self.sections):
            raise ValueError(f"sections: duplicates in {self.sections}")

    @property
    def dim(self) -> int:
        return self.components.shape[0] + len(self.sections)

    def text_vectors(self, articles: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """The SVD projection of each article's TF-IDF row (sublinear tf, l2 norm), float32:
        scikit-learn's `svd.transform(tfidf.transform(texts))`."""
        out = np.zeros((len(articles), self.components.shape[0]), dtype=np.float32)
        for row, article in enumerate(articles):
            counts = Counter(
                c for t in tokenize(article_text(article)) if (c := self.vocabulary.get(t)) is not None
            )
            if not counts:
                continue
            cols = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
            tf = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
            weights = (1.0 + np.log(tf)) * self.idf[cols]
            out[row] = self.components[:, cols] @ (weights / np.linalg.norm(weights)).astype(np.float32)
        return out

    def transform(self, articles: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """(n, dim) float32 rows: text projection, then the weighted section one-hot, L2 normalised."""
        index = {s: i for i, s in enumerate(self.sections)}
        block = np.zeros((len(articles), len(self.sections)), dtype=np.float32)
        for row, article in enumerate(articles):
            section = article.get("section")
            if isinstance(section, str) and (col := index.get(section)) is not None:
                block[row, col] = self.section_weight
        return _unit_rows(np.hstack([self.text_vectors(articles), block]))

    def save(self, directory: str | os.PathLike[str]) -> Path:
        """Write `content.npz` and `content.json` into `directory` (created); returns it."""
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        with open(out / ARRAYS, "wb") as fh:
            np.savez(fh, idf=self.idf, components=self.components)
        meta = {
            "format_version": FORMAT_VERSION,
            "vocabulary": sorted(self.vocabulary, key=self.vocabulary.__getitem__),  # token of each column
            "sections": list(self.sections),
            "section_weight": float(self.section_weight),
            "params": self.params,
        }
        (out / META).write_text(json.dumps(meta, indent=1, sort_keys=True))
        return out

    @classmethod
    def load(cls, directory: str | os.PathLike[str]) -> ContentModel:
        path = Path(directory)
        meta = json.loads((path / META).read_text())
        if not isinstance(meta, dict) or meta.get("format_version") != FORMAT_VERSION:
            found = meta.get("format_version") if isinstance(meta, dict) else None
            raise ValueError(f"{path / META}: format_version {found!r} != {FORMAT_VERSION}")
        with np.load(path / ARRAYS, allow_pickle=False) as npz:
            idf, components = npz["idf"], npz["components"]
        try:
            return cls(
                vocabulary={t: i for i, t in enumerate(meta["vocabulary"])},
                idf=idf,
                components=components,
                sections=list(meta["sections"]),
                section_weight=float(meta["section_weight"]),
                params=dict(meta.get("params") or {}),
            )
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f"{path}: not a content model ({err})") from err


def reader_profile(read_vectors: np.ndarray) -> np.ndarray:
    """The mean of a reader's recent read vectors (rows), L2 normalised; zeros when there is none."""
    reads = np.asarray(read_vectors, dtype=np.float32)
    if reads.ndim != 2:
        raise ValueError(f"read_vectors: expected (reads, dim), got shape {reads.shape}")
    if len(reads) == 0:
        return np.zeros(reads.shape[1], dtype=np.float32)
    return _unit_rows(reads.mean(axis=0, keepdims=True))[0]


def similarity(vectors: np.ndarray, profile: np.ndarray) -> np.ndarray:
    """Cosine of each row of `vectors` with `profile` (a vector, or a reader's read vectors as
    rows, averaged by `reader_profile`); zeros for a zero profile or a zero row."""
    vectors = np.asarray(vectors, dtype=np.float32)
    profile = np.asarray(profile, dtype=np.float32)
    unit = reader_profile(profile) if profile.ndim == 2 else _unit_rows(profile[None, :])[0]
    if unit.shape != (vectors.shape[1],):
        raise ValueError(f"profile: dimension {unit.shape} does not match vectors {vectors.shape}")
    return _unit_rows(vectors) @ unit
