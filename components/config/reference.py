"""The configuration reference, rendered from the settings models (their fields' types, defaults,
bounds and descriptions): the README's table between `<!-- config:begin -->` and
`<!-- config:end -->`, and `reco.env.example` at the repository root.

Nothing here is written by hand, so the documentation cannot miss a setting or show a stale
default; `reference_test.py` fails when the checked-in files differ from the rendering, and
`./pants run pipelines/config/main.py -- docs --write` regenerates them.
"""

from __future__ import annotations

import json
import re
import textwrap
import types
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import SecretStr
from pydantic.fields import FieldInfo

from components.config.redact import MASK, redact, secret_values
from components.config.settings import (
    ENV_PREFIX,
    NESTED_DELIMITER,
    Profile,
    Settings,
    _profile_defaults,
    _section_model,
)
from components.docs.blocks import REGENERATE

README = "README.md"
ENV_EXAMPLE = "reco.env.example"
BLOCK = "config"
# Profile defaults under $RECO_HOME are shown relative to it, as the README describes them.
_HOME = "$RECO_HOME"


class _Unset:
    """A field without a default (a profile supplies it, or the variable is required)."""

    def __repr__(self) -> str:
        return "required"


REQUIRED = _Unset()


@dataclass(frozen=True)
class SettingRow:
    """One environment variable: its name, type (with bounds), defaults under each profile
    (None: unset; REQUIRED: no default), description, and the section it belongs to ("" for
    the top-level PROFILE and HOME)."""

    name: str
    type: str
    default: Any
    description: str
    cluster_default: Any
    section: str
    secret: bool


def settings_rows() -> list[SettingRow]:
    """Every variable Settings reads, in declaration order, walking the section models."""
    rows: list[SettingRow] = []
    for name, field in Settings.model_fields.items():
        section = _section_model(field)
        if section is None:
            rows.append(_row(f"{ENV_PREFIX}{name.upper()}", "", name, field))
            continue
        for key, sub in section.model_fields.items():
            rows.append(_row(f"{ENV_PREFIX}{name.upper()}{NESTED_DELIMITER}{key.upper()}", name, key, sub))
    return rows


def section_descriptions() -> dict[str, str]:
    """Section name -> its one-line description (the section field's)."""
    return {
        name: _one_line(field.description or "")
        for name, field in Settings.model_fields.items()
        if _section_model(field) is not None
    }


def _row(env: str, section: str, key: str, field: FieldInfo) -> SettingRow:
    secret = _is_secret(field.annotation)
    if not field.description:
        raise ValueError(f"setting {env} has no description: give its field Field(description=...)")
    return SettingRow(
        name=env,
        type=_type_name(field),
        default=_default(section, key, field, Profile.LOCAL, secret),
        description=_one_line(field.description),
        cluster_default=_default(section, key, field, Profile.CLUSTER, secret),
        section=section,
        secret=secret,
    )


def _default(section: str, key: str, field: FieldInfo, profile: Profile, secret: bool) -> Any:
    if not section and key == "profile":
        return profile.value  # the variable that picks the profile
    by_profile = _profile_defaults(profile, _HOME).get(section, {})
    if key in by_profile:
        value = by_profile[key]
    elif field.default_factory is not None:
        value = field.default_factory()  # type: ignore[call-arg]
    elif field.is_required():
        return REQUIRED
    else:
        value = field.default
    if secret and value is not None:
        return MASK  # a secret's default is never printed
    return value


def _is_secret(annotation: Any) -> bool:
    return annotation is SecretStr or SecretStr in get_args(annotation)


def _type_name(field: FieldInfo) -> str:
    name = _annotation_name(field.annotation)
    if any(getattr(item, "min_length", None) == 1 for item in field.metadata):
        name = f"non-empty {name}"
    bounds = _bounds(field)
    return f"{name} {bounds}" if bounds else name


def _annotation_name(annotation: Any) -> str:
    origin = get_origin(annotation)
    if origin is Literal:
        return " or ".join(str(arg) for arg in get_args(annotation))
    if origin in (Union, types.UnionType):
        return " or ".join(_annotation_name(a) for a in get_args(annotation) if a is not type(None))
    if origin is list:
        (item,) = get_args(annotation)
        return f"JSON list of {_annotation_name(item)}"
    if annotation is SecretStr:
        return "secret str"
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return " or ".join(str(member.value) for member in annotation)
    return getattr(annotation, "__name__", str(annotation))


def _bounds(field: FieldInfo) -> str:
    """Bounds from the field's constraints (annotated_types' Ge, Gt, Le, Lt; pydantic's pattern),
    read by attribute so no private or transitive module is imported."""
    low = high = ""
    notes = []
    for item in field.metadata:
        if getattr(item, "ge", None) is not None:
            low = f"[{_number(item.ge)}"
        elif getattr(item, "gt", None) is not None:
            low = f"({_number(item.gt)}"
        elif getattr(item, "le", None) is not None:
            high = f"{_number(item.le)}]"
        elif getattr(item, "lt", None) is not None:
            high = f"{_number(item.lt)})"
        elif getattr(item, "pattern", None):
            notes.append(f"matching {item.pattern}")
    if low and high:
        notes.insert(0, f"in {low}, {high}")
    elif low:
        notes.insert(0, (">= " if low[0] == "[" else "> ") + low[1:])
    elif high:
        notes.insert(0, ("<= " if high[-1] == "]" else "< ") + high[:-1])
    return ", ".join(notes)


def _number(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def env_text(value: Any) -> str:
    """A value as it is written in the environment."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, list | dict):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _cell(value: Any) -> str:
    if value is None:
        return "unset"
    if value is REQUIRED:
        return "required"
    text = env_text(value)
    return f"`{text}`" if text else '`""`'


def _escape(text: str) -> str:
    # GitHub tables split cells on `|`, even inside code spans, unless it is escaped.
    return text.replace("|", "\\|")


def render_markdown_table() -> str:
    """The README's configuration reference: one row per variable."""
    lines = [
        "| variable | type | `local` default | `cluster` default | description |",
        "|---|---|---|---|---|",
    ]
    for row in settings_rows():
        local, cluster = _cell(row.default), _cell(row.cluster_default)
        cluster = "same" if cluster == local else cluster
        cells = [f"`{row.name}`", row.type, local, cluster, row.description]
        lines.append("| " + " | ".join(_escape(cell) for cell in cells) + " |")
    return "\n".join(lines) + "\n"


# Characters a shell and a dotenv reader both take literally, unquoted ($ kept: $RECO_HOME expands).
_SHELL_SAFE = re.compile(r"^[A-Za-z0-9_@%+=:,./$\-]*$")


def _env_value(value: Any) -> str:
    if value is None or value is REQUIRED:
        return ""
    text = env_text(value)
    if _SHELL_SAFE.match(text):
        return text
    return "'" + text.replace("'", "'\"'\"'") + "'"


def render_env_example() -> str:
    """`reco.env.example`: every variable, commented, with its description and local default."""
    out = [
        "# reco's settings: every RECO_* variable with its description and its default under the local",
        "# profile (the cluster profile's where it differs). Copy this file to reco.env, uncomment what you",
        "# change and load it with `set -a; . ./reco.env; set +a`. A RECO_* variable that is not listed",
        "# here is an error naming the closest setting (except the few in NOT_SETTINGS, which are read",
        "# by scripts and tests, not by the settings).",
        "#",
        "# Generated from components/config/settings.py: do not edit. Regenerate with",
        f"#   {REGENERATE}",
    ]
    sections = section_descriptions()
    current: str | None = None
    for row in settings_rows():
        if row.section != current:
            current = row.section
            title = f"{current}: {sections[current]}" if current else "profile and state folder"
            out += ["", "", f"# === {title}"]
        out.append("")
        out += textwrap.wrap(row.description, width=98, initial_indent="# ", subsequent_indent="# ")
        out.append(f"# type: {row.type}")
        if row.cluster_default != row.default:
            out.append(f"# cluster profile: {_env_value(row.cluster_default) or '(unset)'}")
        out.append(f"# {row.name}={_env_value(row.default)}")
    return "\n".join(out) + "\n"


@dataclass(frozen=True)
class EffectiveValue:
    """A variable's value in loaded settings (secrets masked) and where it came from: `env`,
    `env (RECO_<SECTION>)` for a section given as JSON, `profile <name>` or `default`."""

    name: str
    value: str
    source: str


def effective_values(settings: Settings, environ: Mapping[str, str]) -> list[EffectiveValue]:
    """Every variable's effective value in `settings`, loaded from `environ`."""
    given = {key.upper(): value for key, value in environ.items()}
    secrets = secret_values(settings)
    by_profile = _profile_defaults(settings.profile, settings.home)
    out = []
    for row in settings_rows():
        key = row.name.removeprefix(ENV_PREFIX).split(NESTED_DELIMITER)[-1].lower()
        holder: Any = getattr(settings, row.section) if row.section else settings
        value = getattr(holder, key)
        if value is None:
            text = "unset"
        elif isinstance(value, SecretStr):
            text = MASK
        else:
            text = redact(env_text(value), secrets)
        section_var = f"{ENV_PREFIX}{row.section.upper()}"
        if row.name in given:
            source = "env"
        elif row.section and key in _json_keys(given.get(section_var)):
            source = f"env ({section_var})"
        elif key in by_profile.get(row.section, {}):
            source = f"profile {settings.profile.value}"
        else:
            source = "default"
        out.append(EffectiveValue(row.name, text, source))
    return out


def _json_keys(text: str | None) -> set[str]:
    if not text:
        return set()
    try:
        parsed = json.loads(text)
    except ValueError:
        return set()
    return {str(k).lower() for k in parsed} if isinstance(parsed, dict) else set()


__all__ = [
    "BLOCK",
    "EffectiveValue",
    "ENV_EXAMPLE",
    "README",
    "REGENERATE",
    "REQUIRED",
    "SettingRow",
    "effective_values",
    "env_text",
    "render_env_example",
    "render_markdown_table",
    "section_descriptions",
    "settings_rows",
]
