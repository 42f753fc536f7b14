from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer

from components.content.fit import fit_content
from components.content.vectors import ContentModel, article_text, similarity, tokenize

# Three topics; articles of a topic share words, all share a little filler.
TOPICS = {
    "sport": ["football", "league", "goal", "match", "coach", "striker", "season", "stadium"],
    "politics": ["election", "vote", "parliament", "minister", "campaign", "ballot", "party", "policy"],
    "food": ["recipe", "kitchen", "chef", "bread", "oven", "flavour", "dinner", "baking"],
}
FILLER = ["report", "today", "city", "people", "week", "story"]


def _catalogue(per_topic: int = 6) -> list[dict[str, Any]]:
    rng = np.random.default_rng(11)
    articles: list[dict[str, Any]] = []
    for section, words in TOPICS.items():
        for i in range(per_topic):
            pick = rng.choice(words, size=5, replace=False).tolist()
            articles.append(
                {
                    "article_id": f"{section}-{i}",
                    "title": " ".join(pick[:3]).capitalize(),
                    "abstract": f"The {pick[3]} and the {pick[4]}: a {rng.choice(FILLER)} {rng.choice(FILLER)}.",
                    "tags": [section, f"{pick[0]}-{pick[1]}"],
                    "section": section,
                    **({"body": " ".join(rng.choice(words + FILLER, size=30))} if i % 2 else {}),
                }
            )
    return articles


def test_numpy_transform_equals_the_sklearn_pipeline() -> None:
    articles = _catalogue()
    model = fit_content(articles, dim=5, seed=4)
    texts = [article_text(a) for a in articles]
    tfidf = TfidfVectorizer(
        tokenizer=tokenize, lowercase=False, token_pattern=None, sublinear_tf=True, min_df=2
    )
    svd = TruncatedSVD(n_components=5, random_state=4).fit(tfidf.fit_transform(texts))
    assert model.vocabulary == tfidf.vocabulary_ and model.components.shape == (5, len(tfidf.vocabulary_))
    unseen: list[dict[str, Any]] = [
        {"title": "Striker scores unknown wonder goal", "tags": ["football-league"]},
        {"title": "Nothing"},
    ]
    for batch in (articles, unseen):
        expected = svd.transform(tfidf.transform([article_text(a) for a in batch]))
        np.testing.assert_allclose(model.text_vectors(batch), expected, atol=1e-5)
    rows = model.transform(articles)
    assert rows.shape == (len(articles), 5 + 3)
    np.testing.assert_allclose(np.linalg.norm(rows, axis=1), 1.0, rtol=1e-5)


def test_articles_of_a_topic_are_closer_than_articles_of_other_topics() -> None:
    articles = _catalogue()
    rows = fit_content(articles, dim=8, section_weight=0.0).transform(articles)  # text alone
    sections = np.array([a["section"] for a in articles])
    for i in range(len(articles)):
        cosine = similarity(rows, rows[i])
        same = (sections == sections[i]) & (np.arange(len(articles)) != i)
        cosine[i] = -np.inf
        assert sections[np.argmax(cosine)] == sections[i]  # nearest neighbour: same topic
        assert cosine[same].mean() > cosine[sections != sections[i]].mean() + 0.3


def test_fit_is_deterministic_for_a_seed_and_survives_a_round_trip(tmp_path: Path) -> None:
    articles = _catalogue()
    first, second = fit_content(articles, seed=2), fit_content(articles, seed=2)
    np.testing.assert_array_equal(first.components, second.components)
    np.testing.assert_array_equal(first.transform(articles), second.transform(articles))
    assert first.params["n_components"] == first.components.shape[0] == min(32, len(first.vocabulary) - 1, 18)
    first.save(tmp_path)
    np.testing.assert_array_equal(ContentModel.load(tmp_path).transform(articles), first.transform(articles))


def test_tiny_catalogues_are_refused_or_shrink_the_dimension() -> None:
    with pytest.raises(ValueError, match="articles: 1 given"):
        fit_content([{"title": "alone"}])
    with pytest.raises(ValueError, match="articles: no term"):
        fit_content([{"title": "the and of"}, {"title": "to be or not"}])
    with pytest.raises(ValueError, match="articles: no term"):
        fit_content([{"title": "apples"}, {"title": "pears"}])
    with pytest.raises(ValueError, match="articles: only 1 term"):
        fit_content([{"title": "apples pears"}, {"title": "apples plums"}])
    model = fit_content(
        [{"title": "apples pears"}, {"title": "apples pears plums"}, {"title": "plums"}], dim=50
    )
    assert model.components.shape == (2, 3) and model.sections == []
    with pytest.raises(ValueError, match="dim"):
        fit_content(_catalogue(), dim=0)
