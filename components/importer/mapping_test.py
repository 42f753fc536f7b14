import pytest

from components.events.columns import event_columns
from components.importer.mapping import ColumnMapping, MappingError

FIELDS = [c.name for c in event_columns()]


def test_explicit_columns_fixed_values_and_same_named_defaults() -> None:
    mapping = ColumnMapping.parse(FIELDS, ["user_id=visitor_id", "ts=timestamp"], ["model_version=legacy"])
    columns = ["visitor_id", "timestamp", "article_id", "type", "user_id", "model_version", "country"]
    resolved = mapping.resolve(columns, "export.csv")
    # `user_id` comes from visitor_id (its own column is not read), the fixed value wins over
    # a same-named column, and `country` is read by nothing.
    assert resolved == {
        "user_id": "visitor_id",
        "ts": "timestamp",
        "article_id": "article_id",
        "type": "type",
    }
    assert mapping.ignored(columns, "export.csv") == ["user_id", "model_version", "country"]


@pytest.mark.parametrize(
    ("maps", "sets", "message"),
    [
        (["user=visitor_id"], [], "'user' is not a field of the contract"),
        (["user_id"], [], "--map 'user_id': expected FIELD=VALUE"),
        (["user_id="], [], "the column name is empty"),
        (["user_id=a", "user_id=b"], [], "field 'user_id' is given twice"),
        (["model_version=mv"], ["model_version=x"], "'model_version' is both mapped (--map) and set (--set)"),
        ([], ["propensities=1"], "'propensities' is not a field"),
    ],
)
def test_mistakes_name_the_field_and_why(maps: list[str], sets: list[str], message: str) -> None:
    with pytest.raises(MappingError) as refused:
        ColumnMapping.parse(FIELDS, maps, sets)
    assert message in str(refused.value)


def test_a_mapped_column_the_file_lacks_names_the_file() -> None:
    mapping = ColumnMapping.parse(FIELDS, ["user_id=visitor"])
    with pytest.raises(MappingError, match=r"export.csv: --map user_id=visitor: no column 'visitor'"):
        mapping.resolve(["visitor_id", "ts"], "export.csv")
