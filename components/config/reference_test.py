"""The configuration reference is rendered from the settings, and the checked-in README block and
reco.env.example are exactly that rendering."""

import os
import shlex
from pathlib import Path

import pytest
from pydantic import BaseModel, Field, SecretStr

from components.config import CollectorSettings, load_settings, reference
from components.config.redact import MASK
from components.config.reference import (
    ENV_EXAMPLE,
    README,
    REGENERATE,
    REQUIRED,
    env_text,
    render_env_example,
    render_markdown_table,
    settings_rows,
)
from components.config.settings import setting_names
from components.docs.blocks import read_block

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.upper().startswith("RECO_"):
            monkeypatch.delenv(name)


def test_readme_block_is_the_rendered_table() -> None:
    block = read_block((REPO / README).read_text(encoding="utf-8"), reference.BLOCK)
    assert block == render_markdown_table().strip(
        "\n"
    ), f"README.md's configuration table differs from the settings: regenerate with `{REGENERATE}`"


def test_env_example_is_the_rendering() -> None:
    assert (REPO / ENV_EXAMPLE).read_text(
        encoding="utf-8"
    ) == render_env_example(), f"{ENV_EXAMPLE} differs from the settings: regenerate with `{REGENERATE}`"


def test_an_edited_row_no_longer_matches_the_rendering() -> None:
    readme = (REPO / README).read_text(encoding="utf-8")
    row = "| `RECO_SERVING__PORT` | int in [0, 65535] | `8080` |"
    assert row in readme
    edited = readme.replace(row, "| `RECO_SERVING__PORT` | int | `80` |")
    assert read_block(edited, reference.BLOCK) != render_markdown_table().strip("\n")


def test_one_row_per_setting_with_a_description() -> None:
    rows = settings_rows()
    assert [row.name for row in rows] == setting_names()
    assert all(row.description and row.type for row in rows)
    table = render_markdown_table().splitlines()
    assert len(table) == 2 + len(rows)
    # Every row has the five cells: no unescaped `|` inside a value or description.
    assert all(line.replace("\\|", "").count("|") == 6 for line in table)


def _expected(value: object, home: str) -> str:
    return "unset" if value is None else env_text(value).replace("$RECO_HOME", home)


@pytest.mark.parametrize("profile", ["local", "cluster"])
def test_documented_defaults_are_the_loaded_ones(monkeypatch: pytest.MonkeyPatch, profile: str) -> None:
    monkeypatch.setenv("RECO_PROFILE", profile)
    monkeypatch.setenv("RECO_HOME", "/srv/reco")
    settings = load_settings()
    for row in settings_rows():
        documented = row.default if profile == "local" else row.cluster_default
        if row.name == "RECO_HOME":
            continue  # set above
        assert documented is not REQUIRED, f"{row.name} has no default in the {profile} profile"
        key = row.name.split("__")[-1].lower() if row.section else row.name[len("RECO_") :].lower()
        loaded = getattr(getattr(settings, row.section) if row.section else settings, key)
        shown = "unset" if loaded is None else MASK if isinstance(loaded, SecretStr) else env_text(loaded)
        assert shown == _expected(documented, "/srv/reco"), row.name


def test_the_env_example_loads_as_it_is_uncommented(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every commented assignment, uncommented and read as a shell would, loads the defaults."""
    assignments = [line[2:] for line in render_env_example().splitlines() if line.startswith("# RECO_")]
    assert len(assignments) == len(settings_rows())
    monkeypatch.setenv("RECO_HOME", "/srv/reco")
    for line in assignments:
        name, _, value = line.partition("=")
        if value and name != "RECO_HOME":
            (parsed,) = shlex.split(value.replace("$RECO_HOME", "/srv/reco"))
            monkeypatch.setenv(name, parsed)
    settings = load_settings()
    assert settings.lake.root == "/srv/reco/lake"
    assert settings.collector.bot_user_agents == CollectorSettings().bot_user_agents
    assert settings.collector.trusted_proxies == ["127.0.0.0/8", "::1/128"]


def test_secret_defaults_are_masked() -> None:
    class Section(BaseModel):
        token: SecretStr = Field(default=SecretStr("hunter22"), description="A token.")
        unset: SecretStr | None = Field(default=None, description="Unset.")

    fields = Section.model_fields
    row = reference._row("RECO_X__TOKEN", "x", "token", fields["token"])
    assert row.secret and row.default == MASK and row.type == "secret str"
    assert reference._row("RECO_X__UNSET", "x", "unset", fields["unset"]).default is None
    secrets = [row for row in settings_rows() if row.secret]
    assert {row.name for row in secrets} >= {"RECO_SERVING__ADMIN_TOKEN", "RECO_MONITORING__ARGO_TOKEN"}


def test_a_field_without_description_is_refused() -> None:
    class Section(BaseModel):
        undocumented: int = 1

    with pytest.raises(ValueError, match="RECO_X__UNDOCUMENTED has no description"):
        reference._row("RECO_X__UNDOCUMENTED", "x", "undocumented", Section.model_fields["undocumented"])
