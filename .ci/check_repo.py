#!/usr/bin/env python3
"""Repository rules that Pants itself does not enforce; `.ci/run` calls this after the tests.

- Every `python_tests` target carries exactly one tier tag (`unit`, `integration`, `e2e`,
  `deploy`, `browser`) and no other tag: `./pants --tag=unit test ::` is the inner loop, so a
  target without a tier silently drops out of every tier but `./pants test ::`.
- A `python_tests` target matches at least one file (an empty one only makes Pants warn).
- Every `./pants run <target>` in README.md, services/README.md and docs/*.md names something
  that exists: `path/to/file.py` a file owned by exactly one `python_sources` target (a
  parametrized resolve gives two, and Pants stops with TooManyTargetsException), `dir:name` a
  target named in `dir/BUILD`.
- Every script the docs call directly (`./infra/images/build.sh`, `.ci/run`, `./pants`)
  exists and is executable.

Standard library only: it runs before any virtualenv exists. Usage: `.ci/check_repo.py [ROOT]`
(ROOT defaults to the checkout holding this file). Prints one line per problem, `file: reason`,
and exits 1 if there is any.
"""

from __future__ import annotations

import ast
import os
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

TIERS = ("unit", "integration", "e2e", "deploy", "browser")
DOC_GLOBS = ("README.md", "services/README.md", "docs/*.md")
# Folders that hold no BUILD files of the project, as pants_ignore in pants.toml has them: state
# and build output at the root only (components/lake is code), caches anywhere, hidden folders
# but for these two.
ROOT_SKIP = frozenset({"dist", "lake", "mlruns"})
ANY_SKIP = frozenset({"node_modules", "__pycache__"})
HIDDEN_KEPT = frozenset({".ci", ".github"})
# Pants' default `sources` of the two Python target types (2.17).
DEFAULT_SOURCES = {
    "python_tests": ["test_*.py", "*_test.py", "tests.py"],
    "python_sources": ["*.py", "*.pyi", "!test_*.py", "!*_test.py", "!tests.py", "!conftest.py"],
}

# `./pants [--global-flags] run TARGET`: TARGET is the first argument after `run`.
PANTS_RUN = re.compile(r"\./pants((?:\s+--[\w.-]+(?:=[^\s`|]+)?)*)\s+run\s+([^\s`|)\]]+)")
# A script called by path: `./x/y.sh`, `.ci/run`, or any `*.sh`; not part of a longer path or URL.
SCRIPT = re.compile(r"(?<![\w/:.~$-])((?:\./|\.ci/)[\w./-]*[\w-]|(?:[\w.-]+/)*[\w.-]+\.sh)(?![\w/])")
INTERPRETERS = ("bash", "sh", "python", "python3", "source", ".")


@dataclass(frozen=True)
class Target:
    """One target call in a BUILD file, with the `__defaults__` that apply to it merged in."""

    build: Path  # relative to the root
    line: int
    kind: str
    name: str
    fields: dict[str, ast.expr] = field(default_factory=dict)

    @property
    def address(self) -> str:
        return f"{self.build.parent.as_posix() if self.build.parent != Path('.') else ''}:{self.name}"

    @property
    def where(self) -> str:
        return f"{self.build.as_posix()}:{self.line}"


@dataclass
class Repo:
    root: Path
    targets: dict[Path, list[Target]] = field(default_factory=dict)  # BUILD dir (relative) -> targets
    problems: list[str] = field(default_factory=list)

    def problem(self, where: str, reason: str) -> None:
        self.problems.append(f"{where}: {reason}")


def _literal(node: ast.expr) -> object:
    """The value of a literal node (strings, lists, dicts, `dict(...)`); `...` if not literal."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "dict":
        return {k.arg: v for k, v in ((kw, kw.value) for kw in node.keywords) if k.arg}
    try:
        return ast.literal_eval(node)
    except ValueError:
        return ...


def _build_files(root: Path) -> Iterator[Path]:
    for folder, dirs, files in os.walk(root):
        at_root = Path(folder) == root
        # `*.pex`: the PEX folders in a Pants test sandbox.
        dirs[:] = sorted(
            d
            for d in dirs
            if d not in ANY_SKIP
            and not (at_root and d in ROOT_SKIP)
            and not d.endswith(".pex")
            and (not d.startswith(".") or d in HIDDEN_KEPT)
        )
        if "BUILD" in files:
            yield Path(folder, "BUILD").relative_to(root)


def _parse_defaults(call: ast.Call) -> tuple[dict[str, dict[str, ast.expr]], bool]:
    """`__defaults__({python_tests: dict(...), (a, b): dict(...)}, all=dict(...), extend=...)`."""
    per_kind: dict[str, dict[str, ast.expr]] = {}
    extend = False
    for arg in call.args:
        if not isinstance(arg, ast.Dict):
            continue
        for key, value in zip(arg.keys, arg.values, strict=True):
            names = key.elts if isinstance(key, ast.Tuple) else [key]
            fields = _literal(value) if isinstance(value, ast.Call) else None
            if not isinstance(fields, dict):
                continue
            for name in names:
                if isinstance(name, ast.Name):
                    per_kind.setdefault(name.id, {}).update(fields)
    for kw in call.keywords:
        if kw.arg == "all" and isinstance(kw.value, ast.Call):
            fields = _literal(kw.value)
            if isinstance(fields, dict):
                per_kind.setdefault("*", {}).update(fields)
        elif kw.arg == "extend":
            extend = _literal(kw.value) is True
    return per_kind, extend


def load_targets(repo: Repo) -> None:
    """Parse every BUILD file (they are Python syntax) without evaluating it."""
    own_defaults: dict[Path, tuple[dict[str, dict[str, ast.expr]], bool]] = {}
    calls: dict[Path, list[ast.Call]] = {}
    for build in _build_files(repo.root):
        try:
            tree = ast.parse((repo.root / build).read_text(), filename=str(build))
        except SyntaxError as exc:
            repo.problem(f"{build.as_posix()}:{exc.lineno}", f"not valid BUILD syntax ({exc.msg})")
            continue
        calls[build.parent] = []
        for stmt in tree.body:
            if not (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call)):
                continue
            call = stmt.value
            if isinstance(call.func, ast.Name) and call.func.id == "__defaults__":
                own_defaults[build.parent] = _parse_defaults(call)
            elif isinstance(call.func, ast.Name):
                calls[build.parent].append(call)

    resolved: dict[Path, dict[str, dict[str, ast.expr]]] = {}

    def defaults(folder: Path) -> dict[str, dict[str, ast.expr]]:
        # Pants: a BUILD file's __defaults__ replace the inherited ones unless extend=True.
        if folder in resolved:
            return resolved[folder]
        parent = defaults(folder.parent) if folder != Path(".") else {}
        if folder not in own_defaults:
            result = parent
        else:
            mine, extend = own_defaults[folder]
            result = {k: dict(v) for k, v in parent.items()} if extend else {}
            for kind, fields in mine.items():
                result.setdefault(kind, {}).update(fields)
        resolved[folder] = result
        return result

    for folder, folder_calls in sorted(calls.items()):
        targets = []
        for call in folder_calls:
            assert isinstance(call.func, ast.Name)
            kind = call.func.id
            inherited = defaults(folder)
            fields = {**inherited.get("*", {}), **inherited.get(kind, {})}
            fields.update({kw.arg: kw.value for kw in call.keywords if kw.arg})
            name = _literal(fields["name"]) if "name" in fields else (folder.name or repo.root.name)
            targets.append(Target(folder / "BUILD", call.lineno, kind, str(name), fields))
        repo.targets[folder] = targets


def _glob(repo: Repo, folder: Path, patterns: Iterable[str]) -> set[Path]:
    base = repo.root / folder
    matched: set[Path] = set()
    excluded: set[Path] = set()
    for pattern in patterns:
        into = excluded if pattern.startswith("!") else matched
        into.update(p for p in base.glob(pattern.lstrip("!")) if p.is_file())
    return matched - excluded


def _sources(target: Target) -> list[str] | None:
    """The target's `sources` patterns (Pants' default where unset); None if not a literal list."""
    if "sources" not in target.fields:
        return DEFAULT_SOURCES.get(target.kind, [])
    value = _literal(target.fields["sources"])
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return list(value)
    return None


def check_test_tiers(repo: Repo) -> None:
    for targets in repo.targets.values():
        for target in targets:
            if target.kind != "python_tests":
                continue
            what = f"python_tests target {target.address}"
            tags = _literal(target.fields["tags"]) if "tags" in target.fields else []
            if not (isinstance(tags, list | tuple) and all(isinstance(t, str) for t in tags)):
                repo.problem(target.where, f"{what}: `tags` must be a literal list of strings")
                continue
            unknown = [t for t in tags if t not in TIERS]
            if unknown:
                repo.problem(target.where, f"{what}: tag(s) {unknown} are not test tiers {list(TIERS)}")
            tiers = [t for t in tags if t in TIERS]
            if not tiers:
                repo.problem(target.where, f"{what}: no tier tag (one of {list(TIERS)})")
            elif len(tiers) > 1:
                repo.problem(target.where, f"{what}: {len(tiers)} tier tags {tiers}, want exactly one")
            patterns = _sources(target)
            if patterns is not None and not _glob(repo, target.build.parent, patterns):
                repo.problem(target.where, f"{what}: its sources {patterns} match no file")


def _doc_files(root: Path) -> list[Path]:
    found: list[Path] = []
    for pattern in DOC_GLOBS:
        found.extend(sorted(p.relative_to(root) for p in root.glob(pattern) if p.is_file()))
    return found


def _is_parametrized(node: ast.expr | None) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "parametrize"


def _check_run_target(repo: Repo, where: str, spec: str) -> None:
    what = f"`./pants run {spec}`"
    if any(c in spec for c in "<>{}*$") or "..." in spec:
        return  # a placeholder (`benchmarks/<name>.py`, `...`), not an address
    spec = spec.removeprefix("//")
    if ":" in spec:
        folder, name = spec.split(":", 1)
        folder_path = Path(folder) if folder else Path(".")
        if not (repo.root / folder_path / "BUILD").is_file():
            repo.problem(where, f"{what}: {folder or '.'}/BUILD does not exist")
        elif name not in {t.name for t in repo.targets.get(folder_path, [])}:
            repo.problem(where, f"{what}: no target named {name!r} in {folder or '.'}/BUILD")
        return
    path, _, parameters = spec.partition("@")
    file = Path(path)
    if not (repo.root / file).is_file():
        repo.problem(where, f"{what}: {path} does not exist")
        return
    owners = [
        t
        for t in repo.targets.get(file.parent, [])
        if t.kind == "python_sources"
        and (patterns := _sources(t)) is not None
        and (repo.root / file) in _glob(repo, file.parent, patterns)
    ]
    if not owners:
        repo.problem(where, f"{what}: no python_sources target in {file.parent.as_posix()}/BUILD owns {path}")
    elif len(owners) > 1:
        names = ", ".join(t.address for t in owners)
        repo.problem(where, f"{what}: {path} is owned by several targets ({names}): name one")
    elif not parameters and _is_parametrized(owners[0].fields.get("resolve")):
        repo.problem(
            where,
            f"{what}: {owners[0].address} builds {path} in several resolves (parametrize), so it is "
            "more than one target: run the folder's pex_binary (`dir:bin`) or add `@resolve=...`",
        )


def _is_called(line: str, start: int) -> bool:
    """Whether the script at `start` runs as a program (not through `bash script`)."""
    before = line[:start].rstrip(" `")
    return not any(
        before.endswith(word) and before[: -len(word)][-1:] in ("", " ", "`") for word in INTERPRETERS
    )


def check_docs(repo: Repo) -> None:
    for doc in _doc_files(repo.root):
        for number, line in enumerate((repo.root / doc).read_text().splitlines(), start=1):
            where = f"{doc.as_posix()}:{number}"
            for match in PANTS_RUN.finditer(line):
                _check_run_target(repo, where, match.group(2))
            for match in SCRIPT.finditer(line):
                script = match.group(1)
                path = repo.root / script.removeprefix("./")
                if not path.is_file():
                    repo.problem(where, f"calls `{script}`, which does not exist")
                elif _is_called(line, match.start(1)) and not os.access(path, os.X_OK):
                    repo.problem(where, f"calls `{script}` directly, but it is not executable (chmod +x)")


def check(root: Path) -> list[str]:
    repo = Repo(root.resolve())
    load_targets(repo)
    check_test_tiers(repo)
    check_docs(repo)
    return repo.problems


def main(argv: list[str]) -> int:
    root = Path(argv[0]) if argv else Path(__file__).resolve().parent.parent
    problems = check(root)
    for problem in problems:
        print(problem)
    if problems:
        print(f"check_repo: {len(problems)} problem(s) under {root}", file=sys.stderr)
        return 1
    print(f"check_repo: test tiers, documented commands and scripts are sound under {root}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
