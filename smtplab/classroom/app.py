"""The class collector: a Starlette web service learners share probe records with.

Routes (JSON unless said otherwise):

``POST /api/join``            ``{"code", "label"}`` -> ``{"learner"}``: a token for this session
``POST /api/records``         ``{"learner", "records": [...]}`` -> ``{"accepted", "refused"}``
``GET  /``                    the page: what is kept, and the live view with the teacher's key
``GET  /api/summary``         the live view's data (teacher's key)
``GET  /api/export.jsonl``    the class's records as JSON Lines (teacher's key)
``GET  /api/export.parquet``  the same as Parquet (teacher's key)
``POST /api/learners/{id}/delete``, ``POST /api/delete-all``   forget (teacher's key)

What a classroom's misbehaviour meets: the join code is required and new each time the
collector starts (a learner's token lasts one session); a request body is at most
:data:`Limits.body_bytes`, a batch :data:`Limits.batch`, a learner :data:`Limits.per_learner`
records and :data:`Limits.rate` requests a second; every record goes through the same check as
:func:`smtplab.load_records` and a bad one is refused with its reason while the rest are kept.
No client address is read or kept (uvicorn's access log is off too).
"""

from __future__ import annotations

import asyncio
import functools
import hmac
import json
import secrets
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from smtplab.classroom.page import render_page
from smtplab.classroom.share import ShareError, check_label, scrub
from smtplab.classroom.store import ClassStore
from smtplab.classroom.summary import summarise

__all__ = ["ClassSession", "Limits", "make_app", "new_code"]

#: Join codes: no 0/O or 1/I/L to misread from a projector.
_CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"


def new_code(length: int = 6) -> str:
    return "".join(secrets.choice(_CODE_ALPHABET) for _ in range(length))


@dataclass(frozen=True)
class Limits:
    #: One request's body: 500 records of ~2 KB each, with room for long transcripts.
    body_bytes: int = 4 * 1024 * 1024
    #: Records in one request.
    batch: int = 500
    #: Records one learner may keep in the class (a whole lesson of probing is ~100).
    per_learner: int = 5000
    #: Requests a second from one learner (a token bucket of this size, refilled each second).
    rate: float = 5.0
    #: Learners in one session, and joins a minute (a guessing script meets this).
    learners: int = 500
    joins_per_minute: int = 120


@dataclass
class ClassSession:
    """One run of the collector: its join code, the teacher's key, the learners who joined."""

    store: ClassStore
    code: str = field(default_factory=new_code)
    teacher_key: str = field(default_factory=lambda: secrets.token_urlsafe(18))
    limits: Limits = field(default_factory=Limits)
    learners: set[str] = field(default_factory=set)
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)
    _joins: list[float] = field(default_factory=list)

    def allow(self, learner: str) -> bool:
        """One request from ``learner``, if their bucket has a token."""
        now = time.monotonic()
        tokens, last = self._buckets.get(learner, (self.limits.rate, now))
        tokens = min(self.limits.rate, tokens + (now - last) * self.limits.rate)
        if tokens < 1:
            self._buckets[learner] = (tokens, now)
            return False
        self._buckets[learner] = (tokens - 1, now)
        return True

    def allow_join(self) -> bool:
        now = time.monotonic()
        self._joins = [t for t in self._joins if now - t < 60]
        if len(self._joins) >= self.limits.joins_per_minute:
            return False
        self._joins.append(now)
        return True


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def _json_body(request: Request, limit: int) -> Any:
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise ShareError(f"the request is larger than {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise ShareError(f"the request is larger than {limit} bytes")
    try:
        return json.loads(body)
    except ValueError:
        raise ShareError("the request is not JSON") from None


def _teacher(request: Request, session: ClassSession) -> bool:
    key = request.headers.get("x-teacher-key") or request.query_params.get("key") or ""
    return hmac.compare_digest(key.encode(), session.teacher_key.encode())


def _checked(raw: Any) -> tuple[dict[str, Any] | None, str | None]:
    from smtplab.records import RecordError, check_record
    from smtplab.records.normalise import to_json_ready

    try:
        rec = check_record(raw)
    except RecordError as exc:
        return None, str(exc)
    return scrub(to_json_ready(rec)), None


Endpoint = Callable[[Request], Awaitable[Response]]


def _guarded(endpoint: Endpoint) -> Endpoint:
    """A failure inside the collector is one JSON line to the learner and one line on the
    teacher's console, never a traceback; nothing already stored is lost."""

    @functools.wraps(endpoint)
    async def call(request: Request) -> Response:
        try:
            return await endpoint(request)
        except Exception as exc:
            print(f"smtplab class: {request.url.path} failed: {type(exc).__name__}: {exc}",
                  file=sys.stderr)  # fmt: skip
            return _error(500, "the collector could not do that; nothing already kept was lost")

    return call


def make_app(
    session: ClassSession, chart: Callable[[ClassStore], tuple[bytes, str]] | None = None
) -> Starlette:
    """The collector's ASGI application for ``session``. ``chart`` draws the class's heat map
    for the page (SVG and alt text); the faces hand in
    :func:`smtplab.charts.classview.class_heatmap`, so the collector does not import the
    charts above it. Without it the page shows the tables only."""
    store = session.store
    limits = session.limits

    async def join(request: Request) -> Response:
        try:
            body = await _json_body(request, 10_000)
        except ShareError as exc:
            return _error(400, str(exc))
        if not isinstance(body, Mapping):
            return _error(400, "expected an object with code and label")
        if not session.allow_join():
            return _error(429, "too many joins this minute: wait a moment")
        code = str(body.get("code", ""))
        if not hmac.compare_digest(code.strip().upper().encode(), session.code.encode()):
            return _error(403, "wrong join code: use the one on the teacher's screen")
        try:
            label = check_label(str(body.get("label", "")))
        except ShareError as exc:
            return _error(400, str(exc))
        if len(session.learners) >= limits.learners:
            return _error(429, f"the class is full ({limits.learners} learners)")
        learner = secrets.token_urlsafe(16)
        await asyncio.to_thread(store.add_learner, learner, label)
        session.learners.add(learner)
        return JSONResponse({"learner": learner, "label": label})

    async def add_records(request: Request) -> Response:
        try:
            body = await _json_body(request, limits.body_bytes)
        except ShareError as exc:
            return _error(413 if "larger" in str(exc) else 400, str(exc))
        if not isinstance(body, Mapping) or not isinstance(body.get("records"), list):
            return _error(400, "expected an object with learner and records")
        learner = str(body.get("learner", ""))
        if learner not in session.learners:
            return _error(403, "join the class first (smtplab record --share ... --code ...)")
        if not session.allow(learner):
            return _error(429, "too many requests: wait a second")
        batch = body["records"]
        if len(batch) > limits.batch:
            return _error(413, f"{len(batch)} records in one request; at most {limits.batch}")
        known = await asyncio.to_thread(store.learner, learner)
        kept = known.records if known else 0
        good: list[dict[str, Any]] = []
        refused: list[tuple[int, str]] = []
        for i, raw in enumerate(batch):
            rec, why = _checked(raw)
            if rec is None:
                refused.append((i, str(why)))
            elif kept + len(good) >= limits.per_learner:
                refused.append((i, f"this learner already has {limits.per_learner} records"))
            else:
                good.append(rec)
        accepted = await asyncio.to_thread(store.add_records, learner, good)
        return JSONResponse({"accepted": accepted, "refused": refused})

    async def page(request: Request) -> Response:
        return HTMLResponse(render_page(teacher=_teacher(request, session)))

    async def summary(request: Request) -> Response:
        if not _teacher(request, session):
            return _error(403, "the live view needs the teacher's key")
        return JSONResponse(await asyncio.to_thread(summarise, store))

    async def chart_svg(request: Request) -> Response:
        if not _teacher(request, session):
            return _error(403, "the live view needs the teacher's key")
        if chart is None:
            return _error(404, "this collector draws no chart")
        svg, alt = await asyncio.to_thread(chart, store)
        # an image, never a document: no script in it runs (and the page shows it by <img>)
        return Response(
            svg,
            media_type="image/svg+xml",
            headers={"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
                     "X-Alt-Text": alt.encode("ascii", "backslashreplace").decode()[:2000]},
        )  # fmt: skip

    async def export_jsonl(request: Request) -> Response:
        if not _teacher(request, session):
            return _error(403, "exports need the teacher's key")
        lines = await asyncio.to_thread(
            lambda: "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in store.records())
        )
        return Response(
            lines,
            media_type="application/x-ndjson",
            headers={"Content-Disposition": 'attachment; filename="class.jsonl"'},
        )

    async def export_parquet(request: Request) -> Response:
        if not _teacher(request, session):
            return _error(403, "exports need the teacher's key")
        from smtplab.records import write_parquet

        folder = Path(tempfile.mkdtemp(prefix="smtplab-class-"))
        path = folder / "class.parquet"
        await asyncio.to_thread(lambda: write_parquet(list(store.records()), path))
        return FileResponse(path, filename="class.parquet", media_type="application/octet-stream")

    async def delete_learner(request: Request) -> Response:
        if not _teacher(request, session):
            return _error(403, "deleting needs the teacher's key")
        learner = request.path_params["learner"]
        deleted = await asyncio.to_thread(store.delete_learner, learner)
        session.learners.discard(learner)
        return JSONResponse({"deleted": deleted})

    async def delete_all(request: Request) -> Response:
        if not _teacher(request, session):
            return _error(403, "deleting needs the teacher's key")
        deleted = await asyncio.to_thread(store.delete_all)
        session.learners.clear()
        return JSONResponse({"deleted": deleted})

    return Starlette(
        routes=[
            Route("/", _guarded(page)),
            Route("/api/join", _guarded(join), methods=["POST"]),
            Route("/api/records", _guarded(add_records), methods=["POST"]),
            Route("/api/summary", _guarded(summary)),
            Route("/api/chart.svg", _guarded(chart_svg)),
            Route("/api/export.jsonl", _guarded(export_jsonl)),
            Route("/api/export.parquet", _guarded(export_parquet)),
            Route("/api/learners/{learner}/delete", _guarded(delete_learner), methods=["POST"]),
            Route("/api/delete-all", _guarded(delete_all), methods=["POST"]),
        ]
    )
