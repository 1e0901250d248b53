"""The live what-if page's web application (Starlette): the page, its own assets and a small JSON API.

Routes, and nothing else (no file is served from the file system; the page's script and stylesheet
are the package's own, read once):

- ``GET /``: the page; ``GET /static/serve.js`` and ``/static/serve.css``: its script and stylesheet;
- ``GET /api/state``: the scenario's plans, their campaigns as budget controls, the sizes run at;
- ``POST /api/simulate``: an edit (:class:`~.requests.EditBody`), answered as lines of JSON
  (``application/x-ndjson``): the preview's numbers, then the full size's, or ``{"stage": "obsolete"}``
  when a newer edit of the same page came first;
- ``POST /api/plan``: the edited plan as a ``[plans.NAME]`` block (TOML, a download);
- ``POST /api/report``: the comparison's run report (one self-contained HTML page, a download).

Every request is validated before any work: a body that is not JSON or not of the right shape, an
unknown plan or campaign, a budget out of range answer 422 with one message (``{"error": ...}``), a
body too large 413, a POST that is not JSON 415, too many waiting simulations 503; an unexpected
failure answers 500 with one line, never a traceback. Every response carries a strict Content Security
Policy (only this server's script, styles and API), and a Host header other than the server's own is
refused (400), so a page elsewhere cannot reach the API through a name that points here.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import math
import re
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from importlib import resources
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cjmsim import __version__
from cjmsim.analyses.whatif import (
    Edit,
    Superseded,
    WhatIf,
    check_edit,
    check_plan,
    check_plan_id,
    edited_name,
    plan_text,
)
from cjmsim.presentation.reports.html import render_page
from cjmsim.presentation.serve.jobs import PENDING, Busy, Jobs
from cjmsim.presentation.serve.payload import edit_payload, reproduce_command, state_payload
from cjmsim.presentation.serve.requests import MAX_BODY, BadRequest, EditBody, ReportBody, SaveBody, parse_body
from cjmsim.scenario import ArgumentError, ScenarioError

__all__ = ["CSP", "ServeSettings", "create_app", "finite_json", "host_name"]

#: The page's Content Security Policy: its own script, stylesheet and API only; nothing from elsewhere.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"cache-control", b"no-store"),
]
#: The page's assets: URL name -> (package file, media type). Nothing else is served.
ASSETS = {"serve.js": ("serve.js", "text/javascript"), "serve.css": ("serve.css", "text/css")}


@dataclass(frozen=True)
class ServeSettings:
    """What the app serves: the what-if session, the scenario file's name (for the commands it shows), the
    plans shown first, and the host names it answers to (``*``: any, when bound to every interface)."""

    whatif: WhatIf
    file: str
    reference: str
    plan: str
    hosts: tuple[str, ...] = ("127.0.0.1", "localhost", "::1", "[::1]")


def host_name(header: str) -> str:
    """The host of a Host header, without its port: ``127.0.0.1:8000`` -> ``127.0.0.1``, ``[::1]:8000`` -> ``::1``."""
    if header.startswith("["):
        return header[1 : header.find("]")] if "]" in header else header
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


class _TrustedHosts:
    """ASGI middleware: a request whose Host header names another host is refused (400), so a page elsewhere
    cannot reach this API through a name of its own that resolves here (DNS rebinding)."""

    def __init__(self, app: ASGIApp, hosts: tuple[str, ...]) -> None:
        self.app = app
        self.hosts = {h.strip("[]").lower() for h in hosts}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and "*" not in self.hosts:
            header = dict(scope["headers"]).get(b"host", b"").decode("latin-1")
            if host_name(header).lower() not in self.hosts:
                await _error(400, f"this server answers to {', '.join(sorted(self.hosts))} only")(scope, receive, send)
                return
        await self.app(scope, receive, send)


class _SecurityHeaders:
    """ASGI middleware: the security headers on every response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *_HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def finite_json(value: Any) -> Any:
    """``value`` with every non-finite float as None (JSON has no NaN), recursively through dicts and lists."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite_json(v) for v in value]
    return value


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def _body(request: Request) -> bytes:
    """The request's JSON body, at most :data:`MAX_BODY` bytes (read no further), or :class:`BadRequest`."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/json":
        raise BadRequest(415, f"send the request as application/json (got {kind or 'no content type'!r})")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise BadRequest(413, f"the request body is larger than {MAX_BODY:,} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _slug(name: str) -> str:
    """A file name's stem from a plan id: ASCII letters, digits, '_' and '-' only."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", name)[:64] or "plan"


def _asset(name: str) -> bytes:
    return resources.files("cjmsim.presentation.serve").joinpath("static", name).read_bytes()


class _Api:
    """The routes' handlers over one what-if session and one simulation worker."""

    def __init__(self, settings: ServeSettings, jobs: Jobs) -> None:
        self.s = settings
        self.whatif = settings.whatif
        self.jobs = jobs
        self.assets = {k: (_asset(f), t) for k, (f, t) in ASSETS.items()}
        self.state = finite_json(state_payload(self.whatif, settings.reference, settings.plan, settings.file))

    async def page(self, request: Request) -> Response:
        sc = self.whatif.scenario.scenario
        html = render_page("serve.html.j2", {"title": sc.name, "version": __version__})
        return HTMLResponse(html)

    async def asset(self, request: Request) -> Response:
        got = self.assets.get(request.path_params["name"])
        if got is None:
            return _error(404, "no such file")
        return Response(got[0], media_type=got[1])

    async def state_of(self, request: Request) -> Response:
        return JSONResponse(self.state)

    def _edit(self, body: EditBody) -> Edit:
        sc = self.whatif.scenario
        edit = check_edit(sc, body.plan, body.budgets)
        check_plan(sc, body.reference, "reference")
        return edit

    def _compute(self, edit: Edit, body: EditBody, stage: str, obsolete: Callable[[], bool]) -> dict[str, Any] | None:
        """One size's numbers, on the worker; None for a preview the full size's records make needless."""
        if obsolete():
            raise Superseded
        size = self.whatif.full if stage == "full" else self.whatif.preview
        assert size is not None
        if stage == "preview" and self.whatif.cached(self.whatif.full, edit):
            return None
        t0 = time.perf_counter()
        result = self.whatif.outcome(size, edit, body.reference, obsolete)
        elapsed = time.perf_counter() - t0
        name = edited_name(self.whatif.scenario, edit)
        payload: dict[str, Any] = finite_json(edit_payload(result, size, name, elapsed, self.s.file))
        return payload

    async def simulate(self, request: Request) -> Response:
        body = parse_body(EditBody, await _body(request))
        edit = self._edit(body)
        self.jobs.admit()
        generation = self.jobs.begin(body.client)
        obsolete = self.jobs.obsolete(body.client, generation)

        async def lines() -> AsyncIterator[bytes]:
            for size in self.whatif.sizes:
                compute = functools.partial(self._compute, edit, body, size.name, obsolete)
                try:
                    got = await self.jobs.run(compute)
                except Superseded:
                    yield _line({"stage": "obsolete", "generation": generation})
                    return
                except (Busy, ScenarioError) as e:
                    yield _line({"stage": "error", "error": str(e), "generation": generation})
                    return
                if got is not None:
                    yield _line({**got, "generation": generation})

        return StreamingResponse(lines(), media_type="application/x-ndjson")

    async def plan(self, request: Request) -> Response:
        body = parse_body(SaveBody, await _body(request))
        edit = self._edit(body)
        w = self.whatif
        note = (
            f"{reproduce_command(self.s.file, body.name, body.reference, w.full, w.seed)} gives the numbers "
            "cjmsim serve showed for it"
        )
        text = plan_text(w.scenario, edit, body.name, body.title, note)
        headers = {"content-disposition": f'attachment; filename="{_slug(body.name)}.toml"'}
        return Response(text, media_type="application/toml; charset=utf-8", headers=headers)

    async def report(self, request: Request) -> Response:
        body = parse_body(ReportBody, await _body(request))
        edit = self._edit(body)
        check_plan_id(self.whatif.scenario, body.name)
        self.jobs.admit()
        title = body.title or edited_name(self.whatif.scenario, edit)

        def write() -> str:
            from cjmsim.presentation.reports import run as report  # matplotlib only when a report is drawn

            return report.render(self.whatif.result(edit, body.reference, body.name, title))

        html = await self.jobs.run(write)
        headers = {"content-disposition": f'attachment; filename="whatif-{_slug(body.name)}.html"'}
        return HTMLResponse(html, headers=headers)


def _line(payload: dict[str, Any]) -> bytes:
    return (json.dumps(payload, allow_nan=False, ensure_ascii=False) + "\n").encode("utf-8")


async def _bad_request(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, BadRequest)
    return _error(exc.status, exc.message)


async def _argument(request: Request, exc: Exception) -> Response:
    if isinstance(exc, ArgumentError):
        return _error(422, exc.said(str))
    return _error(422, str(exc))


async def _busy(request: Request, exc: Exception) -> Response:
    return _error(503, f"busy: {exc}")


async def _failed(request: Request, exc: Exception) -> Response:
    # one line on the server's log and for the page; never a traceback to the client
    print(f"cjmsim serve: {request.method} {request.url.path} failed: {type(exc).__name__}: {exc}", file=sys.stderr)
    return _error(500, f"the server failed on this request ({type(exc).__name__}); see its log")


def _report_failure(task: asyncio.Future[None]) -> None:
    """The start-up simulations' failure, on the server's log in one line (the page's requests say it too)."""
    e = None if task.cancelled() else task.exception()
    if e is not None and not isinstance(e, Superseded | Busy):
        print(f"cjmsim serve: the start-up simulations failed: {type(e).__name__}: {e}", file=sys.stderr)


def create_app(settings: ServeSettings, pending: int = PENDING) -> Starlette:
    """The what-if page's ASGI application over ``settings.whatif``, at most ``pending`` simulations waiting
    (its :class:`~.jobs.Jobs` is ``app.state.jobs``). At start-up the worker simulates the warm-up worlds, no
    marketing and the plans shown first; at shutdown waiting runs are dropped."""
    jobs = Jobs(pending=pending)
    api = _Api(settings, jobs)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        plans = list(dict.fromkeys([settings.reference, settings.plan]))
        start = jobs.run(lambda: settings.whatif.prepare(plans, lambda: jobs.closing))
        task = asyncio.ensure_future(start)
        task.add_done_callback(_report_failure)
        try:
            yield
        finally:
            jobs.close()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Superseded, Busy):
                await task

    routes = [
        Route("/", api.page),
        Route("/static/{name}", api.asset),
        Route("/api/state", api.state_of),
        Route("/api/simulate", api.simulate, methods=["POST"]),
        Route("/api/plan", api.plan, methods=["POST"]),
        Route("/api/report", api.report, methods=["POST"]),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(_SecurityHeaders), Middleware(_TrustedHosts, hosts=settings.hosts)],
        exception_handlers={
            BadRequest: _bad_request,
            ScenarioError: _argument,
            Busy: _busy,
            Exception: _failed,
        },
        lifespan=lifespan,
    )
    app.state.jobs = jobs
    return app
