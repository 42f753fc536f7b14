import pytest

from components.docs.blocks import MissingBlockError, read_block, replace_block

DOC = "# Title\n\nprose before\n\n<!-- table:begin -->\nold\nrows\n<!-- table:end -->\n\nprose after\n"


def test_replace_keeps_the_prose_and_the_markers() -> None:
    new = replace_block(DOC, "table", "| a |\n|---|\n")
    assert new == DOC.replace("old\nrows\n", "| a |\n|---|\n")
    assert read_block(new, "table") == "| a |\n|---|"


def test_replacing_with_the_same_body_changes_nothing() -> None:
    assert replace_block(DOC, "table", read_block(DOC, "table")) == DOC


def test_an_empty_body_leaves_the_markers_on_their_lines() -> None:
    assert "<!-- table:begin -->\n\n<!-- table:end -->" in replace_block(DOC, "table", "")


def test_missing_marker_names_it() -> None:
    with pytest.raises(MissingBlockError, match=r"<!-- other:begin --> is missing"):
        replace_block(DOC, "other", "x")
    with pytest.raises(MissingBlockError, match=r"<!-- table:end --> is missing"):
        read_block(DOC.replace("<!-- table:end -->", ""), "table")


def test_doubled_or_swapped_markers_are_errors() -> None:
    with pytest.raises(MissingBlockError, match="there 2 times"):
        read_block(DOC + "<!-- table:begin -->\n", "table")
    swapped = "<!-- t:end -->\nx\n<!-- t:begin -->\n"
    with pytest.raises(MissingBlockError, match="comes before"):
        replace_block(swapped, "t", "y")
