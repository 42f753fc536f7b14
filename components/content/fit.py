"""Fitting the content model with scikit-learn (pipelines resolve only).

TF-IDF over `vectors.tokenize` (the serving tokenizer, so both sides see the same tokens), then a
truncated SVD; what is kept is arrays only (vocabulary, idf, components), applied by
`ContentModel.transform` with numpy. The SVD cannot have more components than the catalogue has
articles or than its vocabulary has terms minus one, so `dim` shrinks to what the data allows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer

from components.content.vectors import ContentModel, article_text, tokenize


def fit_content(
    articles: Sequence[Mapping[str, Any]],
    *,
    dim: int = 32,
    min_df: int = 2,
    max_features: int = 20_000,
    section_weight: float = 0.5,
    seed: int = 0,
) -> ContentModel:
    """A content model fitted on `articles` (`articles.v1` records: title, abstract, tags, body,
    section); raises ValueError naming `articles` when the catalogue is too small to fit."""
    if dim < 1 or min_df < 1 or max_features < 2 or section_weight < 0:
        raise ValueError(
            f"need dim >= 1, min_df >= 1, max_features >= 2, section_weight >= 0: got {dim=}, {min_df=},"
            f" {max_features=}, {section_weight=}"
        )
    if len(articles) < 2:
        raise ValueError(f"articles: {len(articles)} given, fitting needs at least 2")
    texts = [article_text(a) for a in articles]
    tfidf = TfidfVectorizer(
        tokenizer=tokenize,
        lowercase=False,
        token_pattern=None,
        sublinear_tf=True,
        min_df=min_df,
        max_features=max_features,
    )
    try:
        matrix = tfidf.fit_transform(texts)
    except ValueError as err:  # empty vocabulary, or nothing left after min_df
        raise ValueError(
            f"articles: no term is in at least {min_df} of the {len(texts)} texts ({err})"
        ) from err
    vocab = len(tfidf.vocabulary_)
    if vocab < 2:
        raise ValueError(f"articles: only {vocab} term in at least {min_df} texts, an SVD needs 2")
    svd = TruncatedSVD(n_components=min(dim, vocab - 1, len(texts)), random_state=seed).fit(matrix)
    sections = sorted({s for a in articles if isinstance(s := a.get("section"), str) and s})
    return ContentModel(
        vocabulary={str(t): int(c) for t, c in tfidf.vocabulary_.items()},
        idf=tfidf.idf_,
        components=svd.components_,
        sections=sections,
        section_weight=float(section_weight),
        params={
            "dim": dim,
            "n_components": int(svd.components_.shape[0]),
            "min_df": min_df,
            "max_features": max_features,
            "seed": seed,
            "n_articles": len(texts),
            "explained_variance_ratio": float(svd.explained_variance_ratio_.sum()),
        },
    )
