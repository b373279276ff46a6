"""The HTTP API and the chat page: ``create_app(config, assistant=None, store=None)``.

    from fastapi.testclient import TestClient
    with TestClient(create_app(load_respond_config(), assistant=my_assistant, store=InMemoryStore())) as client:
        cid = client.post("/v1/conversations").json()["conversation_id"]
        client.post(f"/v1/conversations/{cid}/messages", json={"text": "where is my order?"}).json()["reply"]

Routes: ``POST /v1/conversations``; ``POST /v1/conversations/{id}/messages`` (``?trace=true`` for the whole
Turn); ``GET /v1/conversations/{id}``; ``POST /v1/conversations/{id}/handoff`` and ``.../reopen``;
``POST /v1/respond`` (stateless batch); ``GET /healthz``, ``/readyz`` (200 once the models are loaded),
``/metrics`` (Prometheus text); ``/`` the chat page; ``/docs`` the OpenAPI page. Models load in the lifespan,
on the pipeline thread. Errors are JSON ``{"error": {"code", "message"}}`` with the right 4xx, never a traceback.
"""
from __future__ import annotations

import hmac
import logging
import time
from contextlib import asynccontextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from pipeline.assistant import RespondConfig, build_assistant, clean_message
from pipeline.conversation import Conversation, ConversationNotFound
from pipeline.errors import DataError, PipelineError
from pipeline.serve.batcher import MicroBatcher
from pipeline.serve.config import ServeConfig
from pipeline.serve.metrics import Metrics
from pipeline.serve.schemas import ConversationCreated, MessageIn, MessageOut, RespondIn, RespondOut, StatusOut
from pipeline.types import Turn

logger = logging.getLogger(__name__)
PAGE = Path(__file__).resolve().parent / "static" / "chat.html"


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def error_response(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


class BodyLimit:
    """ASGI middleware: a request body over ``limit`` bytes gets 413 before the app reads it."""

    def __init__(self, app: Any, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            return await self._refuse(scope, receive, send)
        seen = 0

        async def limited() -> dict:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise ApiError(413, "body_too_large", f"The request body is over {self.limit} bytes. Send a shorter message.")
            return message

        await self.app(scope, limited, send)

    async def _refuse(self, scope: dict, receive: Any, send: Any) -> None:
        response = error_response(413, "body_too_large", f"The request body is over {self.limit} bytes. Send a shorter message.")
        await response(scope, receive, send)


class RequestMetrics:
    """ASGI middleware: count each request and time it, by route template (a plain ASGI wrapper: no per-request task)."""

    def __init__(self, app: Any, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start, status = time.perf_counter(), [500]

        async def sending(message: dict) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except ApiError as exc:  # raised while the body is read (its size limit), below the exception handlers
            status[0] = exc.status
            await error_response(exc.status, exc.code, exc.message)(scope, receive, send)
        finally:
            path = getattr(scope.get("route"), "path", "other")
            self.metrics.observe(scope["method"], path, status[0], time.perf_counter() - start)


def _install_errors(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message)

    @app.exception_handler(ConversationNotFound)
    async def not_found(request: Request, exc: ConversationNotFound) -> JSONResponse:
        return error_response(404, "conversation_not_found", str(exc))

    @app.exception_handler(PipelineError)
    async def pipeline_error(request: Request, exc: PipelineError) -> JSONResponse:
        return error_response(422, "invalid_request", str(exc))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        example = 'Send JSON such as {"text": "where is my order?"}.'
        if first.get("type") == "json_invalid":
            return error_response(422, "invalid_json", f"The request body is not valid JSON. {example}")
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or "body"
        return error_response(422, "invalid_request", f"{where}: {first.get('msg', 'invalid request')}. {example}")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {404: "not_found", 405: "method_not_allowed"}
        return error_response(exc.status_code, codes.get(exc.status_code, "http_error"), str(exc.detail))

    @app.exception_handler(Exception)
    async def crash(request: Request, exc: Exception) -> JSONResponse:  # logged with its traceback, never sent
        logger.exception("Unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, "internal_error", "The server failed to answer; the error is in its log.")


def checked_text(text: str, max_chars: int) -> str:
    """The message as sent; an empty or too long one is a 422 with one clear message."""
    if len(text) > max_chars:
        raise ApiError(422, "message_too_long", f"The message has {len(text)} characters; the limit is {max_chars}. "
                       "Send a shorter message.")
    try:
        clean_message(text, max_chars)
    except DataError:
        raise ApiError(422, "empty_message", 'The message is empty or only whitespace. Send the customer\'s text, '
                       'e.g. {"text": "where is my order?"}.') from None
    return text


class Service:
    """The state behind the routes: the assistant, the store, the batcher, the metrics, readiness."""

    def __init__(self, config: RespondConfig, assistant: Any, store: Any) -> None:
        self.config, self.serve, self.assistant, self.store = config, config.serve, assistant, store
        self.token = config.serve.bearer_token()
        self.metrics = Metrics()
        self.batcher = MicroBatcher(assistant, store, max_batch=self.serve.max_batch, max_wait_ms=self.serve.max_wait_ms,
                                    workers=self.serve.workers, on_batch=self.metrics.batch_size.observe)
        self.ready, self.error = False, None

    @asynccontextmanager
    async def lifespan(self, app: FastAPI):
        await self.batcher.start()
        try:
            await self.batcher.run(self.assistant.warm_up)
            self.ready = True
            logger.info("Models loaded; serving")
        except Exception as exc:  # /readyz says why; /healthz still answers
            self.error = str(exc)
            logger.error("Could not load the models: %s", exc)
        yield
        await self.batcher.stop()

    def authorised(self, request: Request) -> None:
        if not self.token:
            return
        given = request.headers.get("authorization", "")
        if not (given.startswith("Bearer ") and hmac.compare_digest(given[7:].encode(), self.token.encode())):
            raise ApiError(401, "unauthorized", "Missing or wrong bearer token. Send 'Authorization: Bearer <token>'.")

    def check_ready(self) -> None:
        if not self.ready:
            raise ApiError(503, "not_ready", "The models are still loading; retry in a few seconds."
                           + (f" Loading failed: {self.error}" if self.error else ""))

    async def new_conversation(self) -> ConversationCreated:
        conv = await self.batcher.run(self.store.create)
        return ConversationCreated(conv.id)

    async def message(self, conversation_id: str, body: MessageIn, trace: bool = False) -> Any:
        self.check_ready()
        text = checked_text(body.text, self.config.max_chars)
        async with self.batcher.lock(conversation_id):
            turn: Turn = await self.batcher.submit(conversation_id, text)
        self.metrics.count_turn(turn)
        return JSONResponse(asdict(turn) if trace else asdict(MessageOut.of(turn)))  # plain data: no re-encoding pass

    async def get_conversation(self, conversation_id: str) -> Conversation:
        return await self.batcher.run(self.store.get, conversation_id)

    async def _set_status(self, conversation_id: str, change: str) -> StatusOut:
        def apply() -> Conversation:
            conv = self.store.get(conversation_id)
            getattr(conv, change)()
            self.store.save(conv)
            return conv

        async with self.batcher.lock(conversation_id):
            conv = await self.batcher.run(apply)
        return StatusOut(conv.id, conv.status)

    async def handoff(self, conversation_id: str) -> StatusOut:
        out = await self._set_status(conversation_id, "handoff")
        self.metrics.handoffs.inc()
        return out

    async def reopen(self, conversation_id: str) -> StatusOut:
        return await self._set_status(conversation_id, "reopen")

    async def respond(self, body: RespondIn) -> RespondOut:
        self.check_ready()
        limit = self.serve.max_batch_messages
        if not body.messages or len(body.messages) > limit:
            raise ApiError(422, "invalid_request", f"Send 1 to {limit} messages. Got {len(body.messages)}.")
        turns = await self.batcher.run(self.assistant.answer, [checked_text(t, self.config.max_chars) for t in body.messages])
        for turn in turns:
            self.metrics.count_turn(turn)
        return RespondOut([MessageOut.of(t) for t in turns])

    def router(self) -> APIRouter:
        v1 = APIRouter(prefix="/v1", dependencies=[Depends(self.authorised)])
        v1.add_api_route("/conversations", self.new_conversation, methods=["POST"], response_model=ConversationCreated,
                         status_code=201)
        v1.add_api_route("/conversations/{conversation_id}/messages", self.message, methods=["POST"], response_model=None)
        v1.add_api_route("/conversations/{conversation_id}", self.get_conversation, methods=["GET"], response_model=Conversation)
        v1.add_api_route("/conversations/{conversation_id}/handoff", self.handoff, methods=["POST"], response_model=StatusOut)
        v1.add_api_route("/conversations/{conversation_id}/reopen", self.reopen, methods=["POST"], response_model=StatusOut)
        v1.add_api_route("/respond", self.respond, methods=["POST"], response_model=RespondOut)
        return v1


def _install_plain_routes(app: FastAPI, service: Service) -> None:
    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> dict:
        service.check_ready()
        return {"status": "ready"}

    @app.get("/metrics", include_in_schema=False)
    async def prometheus() -> PlainTextResponse:
        body, content_type = service.metrics.render()
        return PlainTextResponse(body, media_type=content_type)

    @app.get("/", include_in_schema=False)
    async def page() -> HTMLResponse:
        return HTMLResponse(PAGE.read_text(encoding="utf-8"))


def create_app(config: RespondConfig | None = None, *, assistant: Any = None, store: Any = None) -> FastAPI:
    """The app; ``assistant`` and ``store`` default to ``build_assistant(config)`` and a SQLite store."""
    config = config or RespondConfig()
    if store is None:
        from pipeline.serve.store import SQLiteStore

        store = SQLiteStore(config.serve.db_path(), max_turns=config.conversation.max_stored_turns)
    service = Service(config, assistant or build_assistant(config), store)
    app = FastAPI(title="support-assistant", version="0.1.0", lifespan=service.lifespan,
                  description="Customer-support assistant: intent, policy retrieval and a grounded reply, per conversation.")
    app.state.service = service
    _install_errors(app)
    if config.serve.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=list(config.serve.cors_origins), allow_methods=["GET", "POST"],
                           allow_headers=["Authorization", "Content-Type"])

    app.add_middleware(BodyLimit, limit=config.serve.max_body_bytes)
    app.add_middleware(RequestMetrics, metrics=service.metrics)
    app.include_router(service.router())
    _install_plain_routes(app, service)
    return app
