"""Generated blocks inside hand-written files.

A block is the text between `<!-- NAME:begin -->` and `<!-- NAME:end -->` (each on a line of
its own). The prose around it stays hand-written; the block is rendered from code and a test
compares it with the rendering, so a document cannot drift from what it describes.
"""

from __future__ import annotations

# The one command that rewrites every generated file and block (pipelines/docs/generated.py).
REGENERATE = "./pants run pipelines/docs/main.py -- --write"


class MissingBlockError(ValueError):
    """A document lacks a block's markers, holds them twice or in the wrong order."""


def markers(name: str) -> tuple[str, str]:
    """The begin and end markers of block `name`."""
    return f"<!-- {name}:begin -->", f"<!-- {name}:end -->"


def _span(text: str, name: str) -> tuple[int, int]:
    """Start and end offsets of the block's body (after the begin marker's line, at the end
    marker's line)."""
    begin, end = markers(name)
    for marker in (begin, end):
        count = text.count(marker)
        if count != 1:
            where = "missing" if count == 0 else f"there {count} times"
            raise MissingBlockError(f"marker {marker} is {where}: the block {name!r} needs it exactly once")
    start = text.index(begin) + len(begin)
    stop = text.index(end)
    if stop < start:
        raise MissingBlockError(f"marker {end} comes before {begin}")
    return start, stop


def read_block(text: str, name: str) -> str:
    """The body of block `name`, without the newlines next to its markers."""
    start, stop = _span(text, name)
    return text[start:stop].strip("\n")


def replace_block(text: str, name: str, body: str) -> str:
    """`text` with the body of block `name` replaced by `body` (markers kept on their own lines)."""
    start, stop = _span(text, name)
    return f"{text[:start]}\n{body.strip(chr(10))}\n{text[stop:]}"
