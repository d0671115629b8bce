"""The HTTP API in-process (FastAPI's TestClient): answers equal the CLI's, refusals are 4xx with the CLI's
text, the token rules, the OpenAPI spec in docs/ and a fuzz over it (schemathesis) that finds no 500."""

from __future__ import annotations

import json
import os
import stat
import urllib.error
import urllib.request

import pytest

pytest.importorskip("fastapi")

from fastapi.testclient import TestClient  # noqa: E402

from halo_forge.cli.main import main as cli  # noqa: E402
from halo_forge.dashboard import auth  # noqa: E402
from halo_forge.dashboard.app import create_app  # noqa: E402
from halo_forge.dashboard.openapi import SPEC_PATH, spec_text  # noqa: E402
from halo_forge.runs import RunIndex  # noqa: E402
from halo_forge.workspace import Workspace  # noqa: E402
from test_dashboard_support import serve, stop, summary  # noqa: E402

LOOPBACK = ("127.0.0.1", 50000)


@pytest.fixture
def ws(tmp_path, monkeypatch):
    workspace = Workspace(tmp_path / "ws").ensure()
    monkeypatch.setenv("HALO_FORGE_WORKSPACE", str(workspace.root))
    index = RunIndex(workspace)
    index.add(summary("sft-aaa", output_digest="sha256:" + "1" * 64, started="2026-11-01T10:00:00+00:00"))
    index.add(summary("dpo-bbb", modality="dpo", model_digest="sha256:" + "1" * 64, before=0.5, after=0.7, loss=0.6,
                      lr=1e-5, dataset="builtin:arithmetic_pref", started="2026-11-02T10:00:00+00:00"))
    index.add(summary("grpo-ccc", modality="grpo", before=0.7, after=0.6, loss=0.3, started="2026-11-03T10:00:00+00:00",
                      yield_diagnostics={"generated": 10, "kept": 3}))
    return workspace


@pytest.fixture
def app(ws):
    return create_app(ws)


def client(app, address=LOOPBACK, **headers):
    return TestClient(app, base_url="http://127.0.0.1", client=address, headers=headers)


def token_header(app) -> dict:
    return {"Authorization": f"Bearer {app.state.token}"}


def cli_error(capsys, argv: list[str]) -> str:
    """What the CLI prints after `Error: ` for argv (exit code 2)."""
    capsys.readouterr()
    assert cli(argv) == 2
    err = capsys.readouterr().err
    return err.split("Error: ", 1)[1].rstrip("\n")


def test_search_answers_like_the_cli(app, ws, capsys):
    c = client(app)
    got = c.get("/runs/search", params={"modality": "sft,dpo", "sort": "eval_after", "descending": "false"}).json()
    capsys.readouterr()
    assert cli(["runs", "search", "--modality", "sft,dpo", "--sort", "eval_after", "--asc", "--json"]) == 0
    assert got == json.loads(capsys.readouterr().out)
    assert [r["run_id"] for r in got["rows"]] == ["sft-aaa", "dpo-bbb"]
    everything = c.get("/runs/search").json()
    assert everything["facets"]["dataset"] == {"builtin:arithmetic": 2, "builtin:arithmetic_pref": 1}
    assert [r["run_id"] for r in c.get("/runs/search", params={"dataset": "builtin:arithmetic_pref"}).json()["rows"]] == ["dpo-bbb"]
    page = c.get("/runs/search", params={"limit": 1, "offset": 1, "where": ["eval_after>=0.6"]}).json()
    assert page["total"] == 2 and [r["run_id"] for r in page["rows"]] == ["dpo-bbb"]


def test_bad_requests_get_the_cli_message(app, capsys):
    c = client(app)
    r = c.get("/runs/search", params={"where": "eval_after>>1"})
    assert r.status_code == 400
    assert r.json()["error"] == cli_error(capsys, ["runs", "search", "--where", "eval_after>>1"])
    r = c.get("/runs/nope-123")
    assert r.status_code == 404 and r.json()["error"] == cli_error(capsys, ["runs", "show", "nope-123"])
    r = c.post("/train", json={"trainer": "sft", "config": {"dataset": "arithmetic", "data": "rows.jsonl"}},
               headers=token_header(app))
    assert r.status_code == 400
    assert r.json()["error"] == cli_error(capsys, ["sft", "train", "--dataset", "arithmetic", "--data", "rows.jsonl"])
    r = c.post("/train", json={"trainer": "ppo"}, headers=token_header(app))
    assert r.status_code == 400 and "unknown trainer 'ppo'" in r.json()["error"] and "sft" in r.json()["hint"]
    r = c.get("/runs/search", params={"limit": "many"})
    assert r.status_code == 422 and "limit" in r.json()["error"] and "Traceback" not in r.text
    assert c.get("/runs/compare", params={"ids": ["sft-aaa"]}).status_code == 400
    # found by probing: the last day there is, and a file name with a NUL byte, once gave 500s
    assert c.get("/runs/search", params={"until": "9999-12-31"}).json()["total"] == 3
    r = c.post("/train", json={"trainer": "sft", "dry_run": True, "config": {"dataset": "arithmetic", "output": "a\x00b"}},
               headers=token_header(app))
    assert r.status_code == 400 and "cannot be used" in r.json()["error"]


def test_run_endpoints(app):
    c = client(app)
    assert c.get("/runs/dpo-bbb").json()["effectiveness"]["verdict"] == "passed"
    series = c.get("/runs/grpo-ccc/metrics").json()["series"]
    assert set(series) == {"loss", "reward"} and len(series["loss"]) == 10
    lineage = c.get("/runs/dpo-bbb/lineage").json()
    assert [u["run_id"] for u in lineage["upstream"]] == ["sft-aaa"]
    assert c.get("/runs/sft-aaa/replay").json()["command"] == "halo-forge replay sft-aaa"
    links = c.get("/runs/sft-aaa/links").json()
    assert links["mlflow_ui_command"].endswith(" && halo-forge ui")  # a command that exists (mlflow is in .venv/bin)
    cmp = c.get("/runs/compare", params={"ids": ["sft-aaa", "dpo-bbb"]}).json()
    assert cmp["config"]["learning_rate"] == [2e-4, 1e-5]
    events = c.get("/runs/sft-aaa/events")
    assert events.headers["content-type"].startswith("text/event-stream") and "event: done" in events.text


def test_dry_run_gives_the_exact_command(app, ws):
    c = client(app, **token_header(app))
    info = c.post("/train", json={"trainer": "grpo", "dry_run": True, "config": {
        "dataset": "arithmetic_prompts", "verifiers": ["math", "regex_format"], "max_steps": 3, "output": "outputs/g"}}).json()
    assert info["command"] == ("halo-forge grpo train --dataset arithmetic_prompts --output outputs/g --max-steps 3 "
                               "--verifier math --verifier regex_format")
    assert info["state"] == "preview" and not any((ws.data_dir / "dashboard" / "launches").glob("*/launch.json"))
    recipe = c.post("/recipes/run", json={"path": "missing.yaml", "dry_run": True})
    assert recipe.status_code == 400 and "recipe not found" in recipe.json()["error"]
    recipe = c.post("/recipes/run", json={"text": "name: x\x07", "dry_run": True})  # found by the fuzz: once a 500
    assert recipe.status_code == 400 and "invalid YAML" in recipe.json()["error"]
    recipe = c.post("/recipes/run", json={"text": "stages: [{trainer: sft, config: {dataset: arithmetic}}]", "dry_run": True})
    assert recipe.status_code == 201 and recipe.json()["command"].startswith("halo-forge recipe run ")


def test_token_file_is_private_and_stable(ws):
    token = auth.ensure_token(ws)
    path = auth.token_path(ws)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and auth.ensure_token(ws) == token and len(token) >= 40
    os.chmod(path, 0o644)
    assert auth.ensure_token(ws) == token and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert auth.matches(token, token) and not auth.matches(token[:-1] + "x", token) and not auth.matches(None, token)


def test_post_needs_the_token(app, ws):
    c = client(app)
    launches = ws.data_dir / "dashboard" / "launches"
    body = {"trainer": "sft", "config": {"dataset": "arithmetic", "max_steps": 1}}
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Cookie": f"{auth.COOKIE}={app.state.token}"}):
        r = c.post("/train", json=body, headers=headers)
        assert r.status_code == 401 and "needs the token" in r.json()["error"], headers
    assert not launches.exists() or not any(launches.iterdir())
    assert c.post("/runs/sft-aaa/cancel").status_code == 401
    assert c.get("/runs/search").status_code == 200  # reads on loopback need no token


def test_off_loopback_needs_the_token_everywhere(ws, app):
    far = client(app, address=("203.0.113.7", 40000))
    for path in ("/runs/search", "/runs/sft-aaa", "/", "/openapi.json", "/static/app.js"):
        assert far.get(path).status_code == 401, path
    assert far.get("/runs/search", headers=token_header(app)).status_code == 200
    bound_off = create_app(ws, host="0.0.0.0")
    assert client(bound_off).get("/runs/search").status_code == 401
    assert client(bound_off).get("/runs/search", headers=token_header(bound_off)).status_code == 200
    page = client(bound_off).get(f"/?token={bound_off.state.token}", follow_redirects=False)
    assert page.status_code == 303 and auth.COOKIE in page.headers["set-cookie"]
    rebinding = TestClient(app, base_url="http://attacker.example", client=LOOPBACK)
    assert rebinding.get("/runs/search").status_code == 400


def test_real_server_bound_off_loopback_refuses_without_token(ws, tmp_path):
    proc, url = serve(ws.root, host="0.0.0.0", log=tmp_path / "server.log")
    try:
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(url + "/runs/search", timeout=10)
        assert refused.value.code == 401
        request = urllib.request.Request(url + "/runs/search", headers={"Authorization": f"Bearer {auth.ensure_token(ws)}"})
        with urllib.request.urlopen(request, timeout=10) as ok:
            assert json.loads(ok.read())["total"] == 3
    finally:
        stop(proc)


def test_openapi_spec_is_served_and_checked_in(app):
    served = client(app).get("/openapi.json").json()
    assert set(served["paths"]) >= {"/runs/search", "/runs/{run_id}", "/runs/{run_id}/metrics", "/runs/{run_id}/lineage",
                                    "/runs/{run_id}/replay", "/train", "/recipes/run", "/runs/{run_id}/events",
                                    "/runs/{run_id}/cancel"}
    assert "TrainingSummary" in served["components"]["schemas"] and "SFTConfig" in served["components"]["schemas"]
    assert SPEC_PATH.read_text(encoding="utf-8") == spec_text(), \
        "docs/openapi.json is stale: run `python -m halo_forge.dashboard.openapi`"


def test_fuzz_finds_no_server_error(app, ws):
    """schemathesis generates requests from the served spec (valid and invalid ones) for every operation;
    POST /train and /recipes/run are forced to dry_run so the fuzz launches nothing."""
    schemathesis = pytest.importorskip("schemathesis")
    from hypothesis import HealthCheck, given, settings

    headers = {"host": "127.0.0.1", **token_header(app)}
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, headers=headers)
    launches = ws.data_dir / "dashboard" / "launches"
    for result in schema.get_all_operations():
        op = result.ok()

        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None,
                  derandomize=True)
        @given(case=op.as_strategy())
        def check(case):
            if isinstance(case.body, dict) and op.method.lower() == "post" and op.path in ("/train", "/recipes/run"):
                case.body["dry_run"] = True
            r = case.call(headers=headers)
            assert r.status_code < 500, f"{op.method} {op.path} {case.path_parameters} {case.query} {case.body!r}: {r.text[:500]}"

        check()
    assert not launches.exists() or not any(launches.glob("*/launch.json"))


def test_cli_refuses_a_port_in_use(ws, capsys):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        message = cli_error(capsys, ["dashboard", "--port", str(taken.getsockname()[1])])
    assert message.startswith("cannot listen on 127.0.0.1:") and "--port" in message
