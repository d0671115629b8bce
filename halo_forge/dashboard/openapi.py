"""The OpenAPI spec: FastAPI's, plus the trainers' config schemas for `POST /train` and the token scheme.

    python -m halo_forge.dashboard.openapi      # rewrites docs/openapi.json (a test fails when it drifts)
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

SPEC_PATH = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"


def _config_schemas() -> tuple[dict, list[dict]]:
    """({name: schema}, [refs]) of every trainer's config class, in registry order."""
    from pydantic.json_schema import models_json_schema

    from halo_forge import registry

    classes = [registry.config_class(m) for m in registry.modalities()]
    _, top = models_json_schema([(c, "validation") for c in classes], ref_template="#/components/schemas/{model}")
    defs = top.get("$defs", {})
    return defs, [{"$ref": f"#/components/schemas/{c.__name__}"} for c in classes]


def build(app) -> dict:
    from fastapi.openapi.utils import get_openapi

    spec = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    defs, refs = _config_schemas()
    schemas.update(defs)
    config = schemas["TrainRequest"]["properties"]["config"]
    config["anyOf"] = refs + [{"type": "object"}]
    config["description"] += " (the schema of the chosen trainer's config class; see the anyOf)"
    spec["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer", "description": (
        "The workspace's dashboard token (.halo-forge/dashboard.token). Required for every POST, and for every "
        "request when the dashboard is bound off loopback.")}}
    for methods in spec["paths"].values():
        for method, op in methods.items():
            op["security"] = [{"bearer": []}] if method == "post" else [{"bearer": []}, {}]
    return spec


def install(app) -> None:
    """Serve `build(app)` at /openapi.json (computed once)."""
    def openapi() -> dict:
        if app.openapi_schema is None:
            app.openapi_schema = build(app)
        return app.openapi_schema

    app.openapi = openapi


def spec_text() -> str:
    """The spec as checked into docs/openapi.json (built on a scratch workspace: nothing in it is local)."""
    from halo_forge.dashboard.app import create_app
    from halo_forge.workspace import Workspace

    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(Workspace(Path(tmp)).ensure(), token="x")
        return json.dumps(app.openapi(), indent=2, sort_keys=False) + "\n"


if __name__ == "__main__":
    SPEC_PATH.write_text(spec_text(), encoding="utf-8")
    print(f"wrote {SPEC_PATH}")
