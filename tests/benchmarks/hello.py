"""The floor of the web benchmark: Starlette's own hello world on uvicorn, with a form read
for the POST, served as ``lps serve`` serves its pages."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route


async def hello(request: Request) -> PlainTextResponse:
    if request.method == "POST":
        await request.form()
    return PlainTextResponse("Hello, world!")


app = Starlette(
    routes=[
        Route("/", hello, methods=["GET", "POST"]),
        Route("/healthz", hello, methods=["GET"]),
    ]
)
