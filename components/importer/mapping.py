"""Which source column fills which contract field, and fixed values for fields a source lacks.

`--map user_id=visitor_id` reads the field `user_id` from the column `visitor_id`; a column
named like a field fills it unless mapped elsewhere; `--set model_version=legacy-cms` gives a
field one value for every row (a CSV cell's text: `--set position=0` is the number 0). Columns
nothing reads are ignored (and listed in the summary). Every mistake names the field, the
column or the file, and why.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field


class MappingError(ValueError):
    """A column mapping or fixed value that cannot be used, and why."""


def _pairs(items: Sequence[str], option: str, fields: Sequence[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise MappingError(f"{option} {item!r}: expected FIELD=VALUE")
        if name not in fields:
            raise MappingError(
                f"{option} {item!r}: {name!r} is not a field of the contract ({', '.join(fields)})"
            )
        if name in out:
            raise MappingError(f"{option} {item!r}: field {name!r} is given twice")
        out[name] = value
    return out


@dataclass(frozen=True)
class ColumnMapping:
    """Field -> source column (explicit ones), field -> fixed text, over a contract's fields."""

    fields: tuple[str, ...]
    columns: dict[str, str] = field(default_factory=dict)
    fixed: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(
        cls, fields: Sequence[str], maps: Sequence[str] = (), sets: Sequence[str] = ()
    ) -> ColumnMapping:
        """From `--map FIELD=COLUMN` and `--set FIELD=VALUE` arguments."""
        columns = _pairs(maps, "--map", fields)
        for name, column in columns.items():
            if not column:
                raise MappingError(f"--map {name}=: the column name is empty")
        fixed = _pairs(sets, "--set", fields)
        both = sorted(set(columns) & set(fixed))
        if both:
            raise MappingError(f"field {both[0]!r} is both mapped (--map) and set (--set): choose one")
        return cls(tuple(fields), columns, fixed)

    def resolve(self, source_columns: Sequence[str], source: str) -> dict[str, str]:
        """Field -> the column of `source` that fills it (explicit, else the same-named one;
        a fixed value wins over a same-named column)."""
        present = set(source_columns)
        missing = {f: c for f, c in self.columns.items() if c not in present}
        if missing:
            name, column = next(iter(sorted(missing.items())))
            raise MappingError(
                f"{source}: --map {name}={column}: no column {column!r} "
                f"(columns: {', '.join(source_columns)})"
            )
        resolved = dict(self.columns)
        taken = set(self.columns.values())
        for name in self.fields:
            if name in resolved or name in self.fixed:
                continue
            if name in present and name not in taken:
                resolved[name] = name
        return resolved

    def ignored(self, source_columns: Sequence[str], source: str) -> list[str]:
        """The columns of `source` no field reads."""
        used = set(self.resolve(source_columns, source).values())
        return [c for c in source_columns if c not in used]
