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
        path = tmp_path / item.path
        text = path.read_text()
        # An edit inside what is generated: the first line of a block, or of the whole file.
        marker = next((line for line in text.splitlines() if line.endswith(":begin -->")), None)
        if marker is not None and item.path.endswith(".md"):
            body_start = text.index(marker) + len(marker) + 1
            edited = text[:body_start] + "| hand | edited |\n" + text[body_start:]
        else:
            edited = "# edited by hand\n" + text
        path.write_text(edited)
    stale = drifted(tmp_path)
    assert [line.split(":")[0] for line in stale] == [item.path for item in GENERATED]
    assert all(WRITE_COMMAND in line for line in stale)
    assert sorted(write(tmp_path)) == sorted(item.path for item in GENERATED)
    assert drifted(tmp_path) == []


def test_prose_outside_a_block_is_left_alone(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    shutil.copy(ROOT / "README.md", readme)
    readme.write_text(readme.read_text() + "\nA hand-written closing line.\n")
    assert not any(line.startswith("README.md") for line in drifted(tmp_path))
