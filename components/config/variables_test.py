"""Every RECO_* name written anywhere in the repository (code, scripts, BUILD files, manifests,
docs) is a setting, a section wildcard (`RECO_GATE__*`) or listed in NOT_SETTINGS: a misspelt
variable in a script or a manifest would otherwise only fail where it is finally loaded."""

import re
from pathlib import Path

from components.config.settings import NOT_SETTINGS, Settings, closest_setting, is_not_setting, setting_names

REPO = Path(__file__).resolve().parents[2]
# The files of the root BUILD's `reco-variables` target (what Pants puts in the sandbox).
PATTERNS = ["**/*.py", "**/*.sh", "**/*.md", "**/*.yaml", "**/*.yml", "**/*.toml", "**/BUILD"]
PATTERNS += ["**/Dockerfile"]
SINGLE_FILES = ["pants", ".ci/run", "flake.nix"]
SKIPPED_FOLDERS = {"dist", ".pants.d", ".reco", "node_modules", ".git", "__pycache__", ".mypy_cache"}
NAME = re.compile(r"(?<![A-Za-z0-9_])RECO_[A-Z0-9]+(?:_{1,2}[A-Z0-9]+)*(?:_{1,2}\*)?")

# Names that are deliberately not settings, each allowed only in the files listed with it.
ON_PURPOSE: dict[str, tuple[str, ...]] = {
    # Misspellings that the tests of the check and the README's example of it use.
    "RECO_KAFKA__BOOTSTRAP_SERVER": ("components/config/",),
    "RECO_SERVNG__PORT": ("components/config/", "pipelines/config/"),
    "RECO_SERVNG__MODEL_CACHE_DIR": ("components/config/",),
    "RECO_SERVING__PROT": ("components/config/",),
    "RECO_SERVING_PORT": ("components/config/", "README.md"),
    "RECO_EXPLORATION_SHARE": ("components/config/",),
    "RECO_PROFIL": ("components/config/",),
    "RECO_QQQ": ("components/config/",),
    "RECO_TESTS": ("components/config/",),
    "RECO_GATTE__*": ("components/config/",),
    "RECO_A__B_C": ("components/config/",),
    # Fields of throwaway models in the renderer's tests.
    "RECO_X__TOKEN": ("components/config/",),
    "RECO_X__UNSET": ("components/config/",),
    "RECO_X__UNDOCUMENTED": ("components/config/",),
    # Prometheus metric objects in a benchmark: Python names, not variables.
    "RECO_LATENCY": ("benchmarks/reference_service.py", "components/config/variables_test.py"),
    "RECO_REQUESTS": ("benchmarks/reference_service.py", "components/config/variables_test.py"),
}


def repository_files() -> list[Path]:
    found = {REPO / name for name in SINGLE_FILES if (REPO / name).is_file()}
    for pattern in PATTERNS:
        for path in REPO.glob(pattern):
            if path.is_file() and not SKIPPED_FOLDERS.intersection(path.relative_to(REPO).parts):
                found.add(path)
    return sorted(found)


def names_in_repository() -> dict[str, set[str]]:
    """RECO_* name -> the files (relative paths) that write it."""
    names: dict[str, set[str]] = {}
    for path in repository_files():
        text = path.read_text(encoding="utf-8", errors="replace")
        for name in NAME.findall(text):
            names.setdefault(name, set()).add(str(path.relative_to(REPO)))
    return names


def is_known(name: str, files: set[str]) -> bool:
    sections = {f"RECO_{n.upper()}" for n, f in Settings.model_fields.items() if n not in ("profile", "home")}
    allowed = ON_PURPOSE.get(name, ())
    if allowed and all(any(f.startswith(prefix) for prefix in allowed) for f in files):
        return True
    if name.endswith("*"):  # RECO_GATE__* (a section's variables) or RECO_TEST_* (an allowlist prefix)
        return name in NOT_SETTINGS or name.removesuffix("__*") in sections
    return name in setting_names() or name in sections or is_not_setting(name)


def test_the_scan_sees_the_repository() -> None:
    names = names_in_repository()
    # The settings module, the manifests, the README and pants.toml are all read.
    assert "components/config/settings.py" in names["RECO_PROFILE"]
    assert "infra/k8s/base/kustomization.yaml" in names["RECO_KAFKA__BOOTSTRAP_SERVERS"]
    assert "README.md" in names["RECO_SERVING__PORT"]
    assert "pants.toml" in names["RECO_TEST_PGHOST"]
    assert NAME.findall("x RECO_GATE__* RECO_TEST_* `RECO_A__B_C`, XRECO_NO") == [
        "RECO_GATE__*",
        "RECO_TEST_*",
        "RECO_A__B_C",
    ]


def test_every_reco_name_is_a_setting_or_listed() -> None:
    unknown = {
        name: sorted(files) for name, files in names_in_repository().items() if not is_known(name, files)
    }
    report = [
        f"{name} in {', '.join(files)}: not a setting (closest: {closest_setting(name)}); fix the name, "
        "or list a variable that something else reads in components.config.settings.NOT_SETTINGS"
        for name, files in sorted(unknown.items())
    ]
    assert not report, "\n".join(report)


def test_a_misspelt_name_is_caught() -> None:
    assert not is_known("RECO_SERVNG__PORT", {"services/recommender/main.py"})
    assert not is_known("RECO_SERVING_PORT", {"infra/k8s/base/recommender.yaml"})
    assert not is_known("RECO_GATTE__*", {"docs/architecture.md"})
    assert is_known("RECO_SERVING_PORT", {"README.md"})  # the README's example of the error
    assert is_known("RECO_GATE__*", {"docs/architecture.md"})


def test_every_allowlisted_name_is_documented_and_not_a_setting() -> None:
    for entry, reason in NOT_SETTINGS.items():
        assert entry.startswith("RECO_") and len(reason) > 10, entry
        assert not any(name.startswith(entry.rstrip("*")) for name in setting_names()), entry
