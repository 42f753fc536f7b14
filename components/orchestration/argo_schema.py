"""A strict JSON schema for Argo objects, derived from the `argo-workflows` client's models.

Every object gets `additionalProperties: false`, so a misspelt key (`retryStrategyy`) fails,
which `model_validate`-style loaders silently drop; enums come from the models' allowed values.
IntOrString fields are typed `str` in the client, so strings and numbers are both accepted.
"""

from __future__ import annotations

import importlib
import inspect
from functools import cache
from typing import Any

import jsonschema

_ANY_MARKERS = {"bool", "date", "datetime", "dict", "float", "int", "list", "str", "none_type"}
KINDS = {
    "WorkflowTemplate": "argo_workflows.model.io_argoproj_workflow_v1alpha1_workflow_template.IoArgoprojWorkflowV1alpha1WorkflowTemplate",
    "CronWorkflow": "argo_workflows.model.io_argoproj_workflow_v1alpha1_cron_workflow.IoArgoprojWorkflowV1alpha1CronWorkflow",
}


def _name(cls: type) -> str:
    return cls.__name__


def _type_schema(types: Any, defs: dict[str, Any]) -> dict[str, Any]:
    options = types if isinstance(types, tuple) else (types,)
    if {getattr(t, "__name__", "") for t in options} >= _ANY_MARKERS - {"none_type", "date", "datetime"}:
        return {}  # the generator's "any JSON value"
    schemas = [_one(t, defs) for t in options]
    return schemas[0] if len(schemas) == 1 else {"anyOf": schemas}


def _one(t: Any, defs: dict[str, Any]) -> dict[str, Any]:
    if isinstance(t, list):
        return {"type": "array", "items": _type_schema(tuple(t), defs)}
    if isinstance(t, dict):
        (value_types,) = t.values()
        return {"type": "object", "additionalProperties": _type_schema(value_types, defs)}
    simple: dict[str, dict[str, Any]] = {
        "str": {"type": ["string", "number"]},
        "int": {"type": "integer"},
        "float": {"type": "number"},
        "bool": {"type": "boolean"},
        "dict": {"type": "object"},
        "datetime": {"type": "string"},
        "date": {"type": "string"},
        "none_type": {"type": "null"},
    }
    name = getattr(t, "__name__", "")
    if name in simple:
        return simple[name]
    if hasattr(t, "openapi_types"):
        if "value" in t.openapi_types and "value" not in t.attribute_map:
            # A "simple" model: its JSON is the bare value (e.g. an enum of strings).
            schema = _type_schema(t.openapi_types["value"], defs)
            allowed = t.allowed_values.get(("value",))
            return {**schema, "enum": list(allowed.values())} if allowed else dict(schema)
        _define(t, defs)
        return {"$ref": f"#/definitions/{_name(t)}"}
    return {}


def _define(cls: Any, defs: dict[str, Any]) -> None:
    key = _name(cls)
    if key in defs:
        return
    defs[key] = {}  # placeholder first: models refer to themselves
    attribute_map: dict[str, str] = cls.attribute_map
    properties = {}
    for attr, types in cls.openapi_types.items():
        schema = _type_schema(types, defs)
        allowed = cls.allowed_values.get((attr,))
        if allowed:
            schema = {**schema, "enum": list(allowed.values())}
        properties[attribute_map[attr]] = schema
    signature = inspect.signature(cls._from_openapi_data)
    required = [
        attribute_map[p.name]
        for p in signature.parameters.values()
        if p.kind is p.POSITIONAL_OR_KEYWORD and p.name in attribute_map
    ]
    defs[key] = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        defs[key]["required"] = required


@cache
def schema_for(kind: str) -> dict[str, Any]:
    if kind not in KINDS:
        raise ValueError(f"no schema for kind {kind!r} (known: {sorted(KINDS)})")
    module, _, name = KINDS[kind].rpartition(".")
    cls = getattr(importlib.import_module(module), name)
    defs: dict[str, Any] = {}
    _define(cls, defs)
    root = dict(defs[_name(cls)])
    root["properties"] = {**root["properties"], "kind": {"const": kind}}
    return {"$schema": "http://json-schema.org/draft-07/schema#", **root, "definitions": defs}


def without_nulls(value: Any) -> Any:
    """Drop null fields: the Kubernetes API reads a null field as an unset one, and the
    Kubernetes client serializes every unset field of its models as null."""
    if isinstance(value, dict):
        return {k: without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [without_nulls(v) for v in value]
    return value


def validate_manifest(manifest: dict[str, Any]) -> list[str]:
    """Schema violations of an Argo object, each as `path: message` (empty when valid)."""
    manifest = without_nulls(manifest)
    kind = manifest.get("kind")
    if kind not in KINDS:
        return [f"kind: {kind!r} is not one of {sorted(KINDS)}"]
    validator = jsonschema.Draft7Validator(schema_for(str(kind)))
    return [
        f"{'/'.join(str(p) for p in error.absolute_path) or '<root>'}: {error.message}"
        for error in sorted(validator.iter_errors(manifest), key=lambda e: list(e.absolute_path))
    ]
