"""The dashboard's FastAPI app: the HTTP API, the token check, error answers and the pages.

    app = create_app(find_workspace(), host="127.0.0.1")      # what `halo-forge dashboard` serves

Every refused request is JSON `{"error": …}` with a 4xx: a `HaloForgeError` keeps the CLI's text (what,
where, how to fix), a malformed request says which parameter and why. CORS is off unless origins are given.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from halo_forge import __version__
from halo_forge.dashboard import auth
from halo_forge.errors import HaloForgeError, LaunchNotFound, Unauthorized
from halo_forge.runs import RunNotFound

STATIC = Path(__file__).resolve().parent / "static"
DESCRIPTION = ("The halo-forge HTTP API: search and inspect runs, launch training runs and recipes, follow "
               "them live, cancel them. A token (`Authorization: Bearer …`) is required for every POST, and "
               "for every request when the server is bound off loopback. See docs/DASHBOARD.md.")
PAGES = ("/", "/index.html")


def create_app(workspace, *, host: str = "127.0.0.1", token: str | None = None,
               cors_origins: Sequence[str] = (), mlflow_url: str | None = "http://127.0.0.1:5000") -> FastAPI:
    """The app for `workspace` as served on `host` (a non-loopback host makes the token required everywhere)."""
    from halo_forge.dashboard import routes_runs, routes_train
    from halo_forge.dashboard.launches import Launcher
    from halo_forge.runs import RunIndex

    app = FastAPI(title="halo-forge", version=__version__, description=DESCRIPTION, docs_url="/api/docs",
                  redoc_url=None, openapi_url="/openapi.json")
    app.state.workspace = workspace
    app.state.index = RunIndex(workspace)
    app.state.launcher = Launcher(workspace)
    app.state.token = token or auth.ensure_token(workspace)
    app.state.token_everywhere = not auth.is_loopback(host)
    app.state.mlflow_url = mlflow_url
    app.include_router(routes_runs.router)
    app.include_router(routes_train.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    _add_pages(app)
    _add_errors(app)
    app.middleware("http")(_guard)
    if cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=list(cors_origins), allow_methods=["GET", "POST"],
                           allow_headers=["Authorization", auth.HEADER])
    from halo_forge.dashboard.openapi import install

    install(app)
    return app


def _add_pages(app: FastAPI) -> None:
    @app.get("/", include_in_schema=False)
    @app.get("/index.html", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        return Response(status_code=204)


def error_body(exc: HaloForgeError) -> dict:
    return {"error": str(exc), "message": exc.message, "hint": exc.hint}


def _status(exc: HaloForgeError) -> int:
    if isinstance(exc, (RunNotFound, LaunchNotFound)):
        return 404
    if isinstance(exc, Unauthorized):
        return 401
    return 400


def _add_errors(app: FastAPI) -> None:
    @app.exception_handler(HaloForgeError)
    async def user_error(request: Request, exc: HaloForgeError) -> JSONResponse:
        return JSONResponse(error_body(exc), status_code=_status(exc))

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        lines = []
        for err in exc.errors():
            where, *path = [str(p) for p in err.get("loc", ())] or ["request"]
            name = ".".join(path) or where
            got = f" (got {err['input']!r})" if "input" in err and not isinstance(err["input"], dict) else ""
            lines.append(f"  {where} {name}{got}: {err.get('msg', 'invalid')}")
        message = "invalid request:\n" + "\n".join(lines)
        body = {"error": f"{message}\n  fix: see /api/docs for the parameters", "message": message,
                "hint": "see /api/docs for the parameters"}
        return JSONResponse(body, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = str(exc.detail) if exc.status_code != 404 else f"no such page or endpoint: {request.url.path}"
        hint = "the API is listed at /api/docs" if exc.status_code in (404, 405) else None
        body = {"error": message + (f"\n  fix: {hint}" if hint else ""), "message": message, "hint": hint}
        return JSONResponse(body, status_code=exc.status_code, headers=getattr(exc, "headers", None))


async def _guard(request: Request, call_next):
    """Host check on loopback (no DNS rebinding), then the token where it is required."""
    state = request.app.state
    if not state.token_everywhere and not auth.is_loopback(auth.host_name(request.headers.get("host"))):
        return _refuse(request, 400, HaloForgeError(
            f"Host {request.headers.get('host')!r} is not this dashboard's address",
            hint="open it as http://127.0.0.1:PORT (or localhost); to serve other hosts use --host and the token"))
    client = request.client.host if request.client else None
    needed = state.token_everywhere or request.method not in ("GET", "HEAD") or not auth.is_loopback(client)
    query_token = request.query_params.get("token") if request.method == "GET" else None
    given = auth.given_token(request.method, request.headers, request.cookies) or query_token
    if needed and not auth.matches(given, state.token):
        why = "a POST needs the token in a header" if request.method not in ("GET", "HEAD") else \
            "this dashboard is served off loopback: every request needs the token"
        return _refuse(request, 401, Unauthorized(
            f"{request.method} {request.url.path} refused: {why}",
            hint=f"send `Authorization: Bearer <token>`; the token is in {auth.token_path(state.workspace)}, and the "
                 "page URL that `halo-forge dashboard` prints carries it"))
    if query_token and request.url.path in PAGES and auth.matches(query_token, state.token):
        response = RedirectResponse("/", status_code=303)  # keep the token out of the address bar and history
        response.set_cookie(auth.COOKIE, state.token, httponly=False, samesite="strict", path="/")
        return response
    return await call_next(request)


def _refuse(request: Request, status: int, exc: HaloForgeError) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(error_body(exc), status_code=status, headers=headers)
