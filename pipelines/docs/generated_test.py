"""The committed generated files say what the code says, and a hand edit of any is caught."""

from __future__ import annotations

import shutil
from pathlib import Path

from pipelines.docs.generated import GENERATED, WRITE_COMMAND, drifted, write

ROOT = Path(".")


def test_generated_files_match_the_code() -> None:
    assert drifted(ROOT) == [], f"regenerate with `{WRITE_COMMAND}`"


def test_a_hand_edit_of_any_generated_file_is_caught_and_rewritten(tmp_path: Path) -> None:
    for item in GENERATED:
        (tmp_path / item.path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / item.path, tmp_path / item.path)
    assert drifted(tmp_path) == []
    for item in GENERATED:
        # One generated file or block edited at a time: exactly that one is reported.
        path = tmp_path / item.path
        text = path.read_text()
        if item.block:
            begin = f"<!-- {item.block}:begin -->\n"
            edited = text.replace(begin, begin + "| hand | edited |\n")
        else:
            edited = "# edited by hand\n" + text
        path.write_text(edited)
        stale = drifted(tmp_path)
        assert [line.split(": ")[0] for line in stale] == [item.path], item
        assert item.source in stale[0] and WRITE_COMMAND in stale[0]
        assert write(tmp_path) == [item.path]
        assert drifted(tmp_path) == [] and path.read_text() == text


def test_prose_outside_a_block_is_left_alone(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    shutil.copy(ROOT / "README.md", readme)
    readme.write_text(readme.read_text() + "\nA hand-written closing line.\n")
    assert not any(line.startswith("README.md") for line in drifted(tmp_path))
