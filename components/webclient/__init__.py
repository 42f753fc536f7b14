"""reco.js, the browser module a publisher's pages use (reco.js in this folder; served by the
recommend service at /reco.js; docs/integrate.md)."""

from __future__ import annotations

import pkgutil
from functools import cache


@cache
def reco_js() -> bytes:
    """The module's source, as packaged (a resource beside this file, in the PEX too)."""
    data = pkgutil.get_data(__name__, "reco.js")
    if data is None:  # pragma: no cover - the resource ships with the package
        raise FileNotFoundError("components/webclient/reco.js is not packaged")
    return data


__all__ = ["reco_js"]
