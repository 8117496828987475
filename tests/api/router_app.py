"""The API mounted the way the WebUI hosts mount it: a bare FastAPI app with our router and no
gradio, so these tests also run under the hosts' web stacks (A1111: fastapi 0.94 + pydantic 1;
Forge: fastapi 0.104 + pydantic 2). Run as a module, it serves one for tests that kill it:

    python -m tests.api.router_app --home H --models-dir M --port P --users ops:pw
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from fastapi import FastAPI

from sonic_ext import Settings, SonicService
from sonic_ext.adapters.api.auth import ApiAuth
from sonic_ext.adapters.api.router import API_PREFIX, create_router
from sonic_ext.adapters.api.users import parse_api_auth


def router_app(service: SonicService, auth: ApiAuth) -> FastAPI:
    app = FastAPI()
    app.include_router(create_router(service, auth), prefix=API_PREFIX)
    return app


def main(argv: Sequence[str] | None = None) -> None:
    import uvicorn

    parser = argparse.ArgumentParser()
    parser.add_argument("--home", required=True)
    parser.add_argument("--models-dir", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--users")
    args = parser.parse_args(argv)
    settings = Settings.from_environment({}, home=args.home, models_dir=args.models_dir)
    auth = ApiAuth(users=parse_api_auth(args.users) if args.users else {})
    uvicorn.run(router_app(SonicService(settings), auth), host="127.0.0.1", port=args.port,
                log_level="warning")


if __name__ == "__main__":
    main()
