"""Related articles and section filters on a hand-made catalogue: what each stage returns, and
that nothing excluded, read, dead or outside the sections ever is."""

from __future__ import annotations

import numpy as np

from components.models.ranker import ArticleRows
from components.names import CHAMPION
from components.ranking.features import ArticleTable
from components.serving.ranking import POPULAR, ServingModel, rank
from components.serving.ranking_test import NOW, catalogue, ease_model
from components.serving.related import CF_NEIGHBOURS, CONTENT, SECTION, related


def with_vectors(model: ServingModel, vectors: dict[str, list[float]]) -> ServingModel:
    """`model` with article vectors (as the ranker binds them), zero for the articles not given."""
    cat = model.catalogue
    table = np.zeros((len(cat), 2), dtype=np.float32)
    for article, vector in vectors.items():
        table[cat.index[article]] = np.asarray(vector) / np.linalg.norm(vector)
    rows = ArticleTable(
        ids=[str(a) for a in cat.article_ids],
        section=np.zeros(len(cat), dtype=np.int64),
        published_s=cat.published_s,
        vectors=table,
        n_sections=1,
    )
    return ServingModel(
        model.alias, model.version, model.recommender, model.catalogue_rows, cat, ArticleRows(rows, True)
    )


def test_content_neighbours_come_first_then_the_section_then_popular() -> None:
    cat = catalogue()
    model = with_vectors(
        ServingModel.bind(CHAMPION, "1", ease_model(), cat),
        # a3 is nearly a1's text, a4 far from it; a2 has no text; a5 (expired) and a6 (not yet
        # published) would be the nearest of all.
        {"a1": [1.0, 0.0], "a3": [0.9, 0.1], "a4": [0.1, 1.0], "a5": [1.0, 0.0], "a6": [1.0, 0.0]},
    )
    ranked = related(model, cat, "a1", 10, exclude=[], recent=[], now_s=NOW)
    assert ranked.article_ids == ["a3", "a4", "a2"]
    assert ranked.reasons == [CONTENT, CONTENT, POPULAR]
    assert ranked.ranked_by == CONTENT and not ranked.cold_start
    assert ranked.scores[0] > ranked.scores[1] > 0


def test_cf_neighbours_for_a_model_without_text() -> None:
    cat = catalogue()
    model = ServingModel.bind(CHAMPION, "1", ease_model(), cat)
    ranked = related(model, cat, "a1", 2, exclude=[], recent=[], now_s=NOW)
    # EASE's weights from a1: a2 0.9, a4 0.5, a3 0.1 (a5 2.0 is expired).
    assert ranked.article_ids == ["a2", "a4"]
    assert ranked.reasons == [CF_NEIGHBOURS, CF_NEIGHBOURS]
    assert ranked.ranked_by == CF_NEIGHBOURS


def test_exclusions_recent_reads_the_article_itself_and_dead_articles_never_return() -> None:
    cat = catalogue()
    model = ServingModel.bind(CHAMPION, "1", ease_model(), cat)
    for m in (None, model, with_vectors(model, {"a1": [1, 0], "a2": [1, 0], "a3": [1, 0]})):
        ranked = related(m, cat, "a1", 10, exclude=["a2"], recent=["a3"], now_s=NOW)
        assert ranked.article_ids == ["a4"], m
        assert not {"a1", "a2", "a3", "a5", "a6"} & set(ranked.article_ids)


def test_an_article_the_model_does_not_know_gets_its_section_then_popular() -> None:
    cat = catalogue()
    model = ServingModel.bind(CHAMPION, "1", ease_model(), cat)
    # a6 is in the catalogue (tech) but unknown to the model; a4 is the other tech article.
    ranked = related(model, cat, "a6", 3, exclude=[], recent=[], now_s=NOW)
    assert ranked.article_ids == ["a4", "a2", "a1"]
    assert ranked.reasons == [SECTION, POPULAR, POPULAR]
    unknown = related(model, cat, "not-in-the-catalogue", 2, exclude=[], recent=[], now_s=NOW)
    assert unknown.reasons == [POPULAR, POPULAR] and unknown.cold_start


def test_section_filters_hold_on_every_stage_and_in_rank() -> None:
    cat = catalogue()
    news = cat.in_sections(["news"])
    assert news.tolist() == [True, False, True, False, True, False]
    assert not cat.in_sections(["no-such-section"]).any()
    model = ServingModel.bind(CHAMPION, "1", ease_model(), cat)
    texts = with_vectors(model, {"a1": [1, 0], "a2": [1, 0], "a3": [0, 1]})
    for m in (None, model, texts):
        ranked = related(m, cat, "a1", 10, exclude=[], recent=[], now_s=NOW, keep=news)
        assert ranked.article_ids == ["a3"], m  # the only other live news article
    # /recommend: the popular list, the CF model and its popular fill.
    assert rank(
        None, cat, "x", 10, exclude=[], recent=[], has_features=False, now_s=NOW, keep=news
    ).article_ids == [
        "a1",
        "a3",
    ]
    personal = rank(model, cat, "u2", 10, exclude=[], recent=[], has_features=True, now_s=NOW, keep=news)
    assert personal.ranked_by == "cf" and set(personal.article_ids) == {"a1", "a3"}
    nothing = np.zeros(len(cat), dtype=bool)
    empty = rank(model, cat, "u2", 10, exclude=[], recent=[], has_features=True, now_s=NOW, keep=nothing)
    assert empty.article_ids == []
