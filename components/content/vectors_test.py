import ast
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from components.content import vectors
from components.content.vectors import ContentModel, article_text, reader_profile, similarity, tokenize


def _model(section_weight: float = 0.5) -> ContentModel:
    rng = np.random.default_rng(0)
    terms = ["alpha", "beta", "gamma", "delta", "open", "source"]
    return ContentModel(
        vocabulary={t: i for i, t in enumerate(terms)},
        idf=rng.uniform(1.0, 3.0, len(terms)),
        components=rng.normal(size=(3, len(terms))),
        sections=["sport", "tech"],
        section_weight=section_weight,
        params={"dim": 3},
    )


def test_vectors_imports_only_the_standard_library_and_numpy() -> None:
    tree = ast.parse(Path(vectors.__file__).read_text())
    roots = {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    roots |= {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert {r for r in roots if r not in sys.stdlib_module_names} == {"numpy"}


def test_tokenize_lowercases_splits_and_drops_short_and_stop_words() -> None:
    assert tokenize("The Open-Source café: a naïve AI 2024 x") == [
        "open",
        "source",
        "cafe",
        "naive",
        "ai",
        "2024",
    ]
    text = article_text({"title": "Alpha", "tags": ["open-source", "beta"], "body": None})
    assert tokenize(text) == ["alpha", "open", "source", "beta"]
    assert article_text({}) == ""


def test_transform_rows_are_unit_and_equal_to_the_hand_computed_tfidf_projection() -> None:
    model = _model()
    rows = model.transform(
        [
            {"title": "Alpha alpha", "section": "sport"},
            {"title": "alpha beta beta", "abstract": "gamma", "tags": ["open-source"], "section": "tech"},
        ]
    )
    assert rows.shape == (2, model.dim) == (2, 5) and rows.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(rows, axis=1), 1.0, rtol=1e-6)
    # One known term: its TF-IDF row is that term's unit vector, whatever the count.
    expected = np.concatenate([model.components[:, 0], [0.5, 0.0]])
    np.testing.assert_allclose(rows[0], expected / np.linalg.norm(expected), rtol=1e-5)
    tf = np.array([1.0, 1.0 + np.log(2.0), 1.0, 1.0, 1.0])  # alpha, beta x2, gamma, open, source
    weights = tf * model.idf[[0, 1, 2, 4, 5]]
    text = model.components[:, [0, 1, 2, 4, 5]] @ (weights / np.linalg.norm(weights))
    expected = np.concatenate([text, [0.0, 0.5]])
    np.testing.assert_allclose(rows[1], expected / np.linalg.norm(expected), rtol=1e-5, atol=1e-6)


def test_unknown_tokens_give_a_zero_text_part_and_no_section_a_zero_row() -> None:
    model = _model()
    rows = model.transform(
        [
            {"title": "Unheard-of words", "section": "tech"},
            {"title": "Unheard-of words", "section": "weather"},
            {"abstract": "the and of"},
        ]
    )
    np.testing.assert_array_equal(rows[0], [0, 0, 0, 0, 1])
    np.testing.assert_array_equal(rows[1:], 0)
    assert model.transform([]).shape == (0, model.dim)


def test_save_load_round_trip_without_pickle(tmp_path: Path) -> None:
    model = _model(section_weight=0.25)
    model.save(tmp_path)
    with np.load(tmp_path / "content.npz", allow_pickle=False) as npz:
        assert sorted(npz.files) == ["components", "idf"] and npz["idf"].dtype == np.float32
    loaded = ContentModel.load(tmp_path)
    assert loaded.vocabulary == model.vocabulary and loaded.sections == model.sections
    assert loaded.section_weight == 0.25 and loaded.params == {"dim": 3}
    np.testing.assert_array_equal(loaded.idf, model.idf)
    np.testing.assert_array_equal(loaded.components, model.components)
    articles = [{"title": "beta gamma", "tags": ["open-source"], "section": "sport"}]
    np.testing.assert_array_equal(loaded.transform(articles), model.transform(articles))


@pytest.mark.parametrize("version", [None, 99])
def test_load_refuses_a_missing_or_unknown_format_version(tmp_path: Path, version: int | None) -> None:
    _model().save(tmp_path)
    meta = json.loads((tmp_path / "content.json").read_text())
    meta.pop("format_version")
    if version is not None:
        meta["format_version"] = version
    (tmp_path / "content.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=r"content\.json: format_version"):
        ContentModel.load(tmp_path)


def test_model_refuses_arrays_that_do_not_fit_the_vocabulary() -> None:
    with pytest.raises(ValueError, match="vocabulary of 2"):
        ContentModel({"a": 0, "b": 1}, np.ones(3), np.ones((1, 2)), [], 0.5)
    with pytest.raises(ValueError, match="columns"):
        ContentModel({"a": 0, "b": 2}, np.ones(2), np.ones((1, 2)), [], 0.5)


def test_similarity_is_cosine_with_the_normalised_mean_of_reads() -> None:
    items = np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0], [0.0, 0.0]], dtype=np.float32)
    reads = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    profile = reader_profile(reads)
    np.testing.assert_allclose(profile, np.array([2.0, 1.0]) / np.sqrt(5.0), rtol=1e-6)
    expected = [2 / np.sqrt(5), 1 / np.sqrt(5), 3 / np.sqrt(10), 0.0]
    np.testing.assert_allclose(similarity(items, profile), expected, rtol=1e-6)
    np.testing.assert_allclose(similarity(items, reads), expected, rtol=1e-6)
    np.testing.assert_array_equal(similarity(items, np.zeros(2)), 0.0)
    np.testing.assert_array_equal(similarity(items, np.zeros((0, 2))), 0.0)
    with pytest.raises(ValueError, match="dimension"):
        similarity(items, np.ones(3))
