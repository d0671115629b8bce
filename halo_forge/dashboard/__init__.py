"""The dashboard and HTTP API (`halo-forge dashboard`): run search, run detail, compare, goal-first Train.

    from halo_forge.dashboard.app import create_app
    app = create_app(find_workspace(), host="127.0.0.1")   # a FastAPI app; uvicorn serves it

fastapi and uvicorn (the `dashboard` extra) are imported only when the app is built. docs/DASHBOARD.md
describes the pages, the API, the token and the live events.
"""
