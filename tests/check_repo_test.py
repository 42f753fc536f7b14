"""`.ci/check_repo.py`: this repository passes, and a broken tree gets one line per problem,
naming the file and the reason (test tiers, `./pants run` addresses, scripts the docs call)."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

import pytest

# The checkout (or, under Pants, the sandbox holding //:repo-layout).
ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / ".ci" / "check_repo.py"


def _load() -> ModuleType:
    # A script in a hidden folder, not a package: load it by path (no subprocess).
    spec = importlib.util.spec_from_file_location("check_repo", SCRIPT)
    assert spec and spec.loader, SCRIPT
    module = importlib.util.module_from_spec(spec)
    sys.modules["check_repo"] = module
    spec.loader.exec_module(module)
    return module


check_repo = _load()


def _write(root: Path, files: dict[str, str], executable: tuple[str, ...] = ()) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        path.chmod(0o755 if name in executable else 0o644)


BROKEN = {
    "pkg/BUILD": """
python_sources()
python_tests(name="untiered")
python_tests(name="two", sources=["a_test.py"], tags=["unit", "e2e"])
python_tests(name="odd", sources=["a_test.py"], tags=["slow", "unit"])
python_tests(name="empty", sources=["missing_test.py"], tags=["unit"])
python_tests(name="good", sources=["a_test.py"], tags=["unit"])
""",
    "pkg/a_test.py": "",
    "pkg/b_test.py": "",
    # Sources in two resolves: `./pants run svc/main.py` is two targets.
    "svc/BUILD": """
__defaults__({python_sources: dict(resolve=parametrize("serving", "pipelines"))})
python_sources()
pex_binary(name="bin", entry_point="main.py")
""",
    "svc/main.py": "",
    "tool/BUILD": 'python_sources(resolve="pipelines")\n',
    "tool/main.py": "",
    # Tiers set by __defaults__ reach subfolders, until a BUILD file sets its own defaults.
    "deep/BUILD": '__defaults__({python_tests: dict(tags=["integration"])})\n',
    "deep/inherits/BUILD": "python_tests()\n",
    "deep/inherits/x_test.py": "",
    "deep/replaced/BUILD": '__defaults__({python_sources: dict(resolve="serving")})\npython_tests()\n',
    "deep/replaced/x_test.py": "",
    # The lake's state folder at the root is no code (pants_ignore); a `lake` package is.
    "lake/BUILD": "python_tests()\n",
    "lake/x_test.py": "",
    "pkg/lake/BUILD": "python_tests()\n",
    "pkg/lake/x_test.py": "",
    "scripts/go.sh": "#!/bin/sh\n",
    "scripts/ok.sh": "#!/bin/sh\n",
    ".ci/run": "#!/bin/sh\n",
    "pants": "#!/bin/sh\n",
    "README.md": """# demo

```bash
./pants run tool/main.py
./pants run svc:bin -- --port 1
./pants run svc/main.py
./pants --concurrent run svc:nope
./pants run gone/main.py
./pants run nodir:bin
./pants run benchmarks/<name>.py
./scripts/go.sh
bash scripts/go.sh
./scripts/ok.sh && .ci/run
./scripts/missing.sh
```
""",
    "docs/ops.md": "Run `./pants run svc/main.py@resolve=serving` or `./pants --tag=unit test ::`.\n",
}

EXPECTED = [
    ("pkg/BUILD:3", "pkg:untiered: no tier tag"),
    ("pkg/BUILD:4", "pkg:two: 2 tier tags ['unit', 'e2e'], want exactly one"),
    ("pkg/BUILD:5", "pkg:odd: tag(s) ['slow'] are not test tiers"),
    ("pkg/BUILD:6", "pkg:empty: its sources ['missing_test.py'] match no file"),
    ("deep/replaced/BUILD:2", "deep/replaced:replaced: no tier tag"),
    ("pkg/lake/BUILD:1", "pkg/lake:lake: no tier tag"),
    ("README.md:6", "`./pants run svc/main.py`: svc:svc builds svc/main.py in several resolves"),
    ("README.md:7", "`./pants run svc:nope`: no target named 'nope' in svc/BUILD"),
    ("README.md:8", "`./pants run gone/main.py`: gone/main.py does not exist"),
    ("README.md:9", "`./pants run nodir:bin`: nodir/BUILD does not exist"),
    ("README.md:11", "calls `./scripts/go.sh` directly, but it is not executable"),
    ("README.md:14", "calls `./scripts/missing.sh`, which does not exist"),
]


def test_this_repository_passes() -> None:
    assert check_repo.check(ROOT) == []


def test_a_broken_tree_gets_one_line_per_problem(tmp_path: Path) -> None:
    _write(tmp_path, BROKEN, executable=("scripts/ok.sh", ".ci/run", "pants"))
    problems = check_repo.check(tmp_path)
    for where, reason in EXPECTED:
        assert any(p.startswith(f"{where}: ") and reason in p for p in problems), (where, reason, problems)
    assert len(problems) == len(EXPECTED), problems


def test_the_exit_status_and_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write(tmp_path / "bad", BROKEN, executable=("scripts/ok.sh", ".ci/run", "pants"))
    assert check_repo.main([str(tmp_path / "bad")]) == 1
    assert len(capsys.readouterr().out.splitlines()) == len(EXPECTED)
    _write(tmp_path / "good", {"pkg/BUILD": 'python_tests(tags=["unit"])\n', "pkg/a_test.py": ""})
    assert check_repo.main([str(tmp_path / "good")]) == 0
    assert capsys.readouterr().out == ""


def test_ci_runs_it_after_the_tests_and_before_packaging() -> None:
    commands = [
        line for line in (ROOT / ".ci" / "run").read_text().splitlines() if not line.lstrip().startswith("#")
    ]
    keys = ("./pants test ::", ".ci/check_repo.py", "./pants package ::")
    at = {key: next(i for i, line in enumerate(commands) if key in line) for key in keys}
    assert at["./pants test ::"] < at[".ci/check_repo.py"] < at["./pants package ::"], at
    assert os.access(SCRIPT, os.X_OK), f"{SCRIPT} is not executable"
