"""The lean and the full resolve must agree on every package they share.

Component code builds in both resolves; if they drifted apart, a component could pass its
tests in one and break in the other.
"""

import json
from pathlib import Path

HERE = Path(__file__).parent


def locked_versions(name: str) -> dict[str, str]:
    text = (HERE / name).read_text()
    body = "\n".join(line for line in text.splitlines() if not line.startswith("//"))
    resolve = json.loads(body)["locked_resolves"][0]
    return {req["project_name"]: req["version"] for req in resolve["locked_requirements"]}


def test_shared_packages_have_the_same_version_in_both_resolves() -> None:
    serving = locked_versions("serving.lock")
    pipelines = locked_versions("pipelines.lock")
    shared = serving.keys() & pipelines.keys()
    assert {"numpy", "pydantic", "redis", "starlette", "aiokafka", "pytest"} <= shared
    drift = {name: (serving[name], pipelines[name]) for name in shared if serving[name] != pipelines[name]}
    assert drift == {}, f"serving vs pipelines versions differ: {drift}"
