"""The Quart application: routes, the JWS gate in front of every POST, problem documents, and
the headers every ACME answer carries (Replay-Nonce, Link rel="index").

Besides ACME: ``/health``, ``/roots.pem``, ``/intermediates.pem`` and ``/crl/<ca-id>.crl``.
"""

from __future__ import annotations

import inspect
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from quart import Quart, Response, g, request
from werkzeug.exceptions import HTTPException

from server import accounts, certificates, challenges, keychange, ocsp, orders, renewal_info
from server.context import Acme, Call, Reply
from server.jws import authenticate
from server.problems import PROBLEM_CONTENT_TYPE, Problem
from server.urls import Urls
from stepui.authority.service import Authority
from stepui.errors import NotFound, StepuiError
from stepui.events import Events

log = logging.getLogger("stepui.server")

MAX_BODY = 50 * 1024
JOSE_CONTENT_TYPE = "application/jose+json"
Handler = Callable[..., Reply | Awaitable[Reply]]


def create_app(authority: Authority, *, events: Events | None = None) -> Quart:
    """The ACME server for ``authority``; ``events`` defaults to the Authority's hub."""
    acme = Acme(authority, events or authority.events)
    app = Quart("stepui.server")
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY
    # A path with "//" names no resource: a 404 problem, not werkzeug's 308 to a merged path
    # (an HTML redirect a JWS signed for the sent URL could never follow).
    app.url_map.merge_slashes = False

    def urls_for(provisioner: str) -> Urls:
        external = authority.config.external_url
        base = external.rstrip("/") if external else f"{request.scheme}://{request.host}"
        return Urls(base, provisioner)

    def request_url(urls: Urls) -> str:
        """The URL as sent, percent-escapes and all (RFC 8555 §6.4), not the decoded path."""
        path = request.scope.get("raw_path") or request.path.encode()
        query = request.query_string.decode("latin-1")
        return urls.base + path.decode("latin-1") + (f"?{query}" if query else "")

    async def authenticated(provisioner_name: str, allow_jwk: bool) -> Call:
        provisioner = acme.provisioner(provisioner_name)
        if request.mimetype != JOSE_CONTENT_TYPE:
            raise Problem("malformed", f"Content-Type must be {JOSE_CONTENT_TYPE}", status=415)
        body = await request.get_data()  # read (and cached) by read_body
        urls = urls_for(provisioner.name)
        now = authority.clock()
        verified = authenticate(
            acme.store,
            body,
            url=request_url(urls),
            account_prefix=urls.account_prefix,
            provisioner=provisioner.name,
            now=now,
            allow_jwk=allow_jwk,
            on_nonce=lambda nonce: setattr(g, "nonce", nonce),
        )
        if verified.account is not None:
            g.account = verified.account.id
        return Call(acme, provisioner, urls, now, verified, request.args)

    def post(rule: str, handler: Handler, *, allow_jwk: bool = False, name: str = "") -> None:
        async def view(provisioner: str, **kwargs: Any) -> Response:
            call = await authenticated(provisioner, allow_jwk)
            reply = handler(call, **kwargs)
            if inspect.isawaitable(reply):
                reply = await reply
            return _response(reply)

        endpoint = name or f"{handler.__module__}.{handler.__name__}"
        app.add_url_rule(f"/acme/<provisioner>/{rule}", endpoint, view, methods=["POST"])

    post("new-account", accounts.new_account, allow_jwk=True)
    post("account/<account_id>", accounts.account)
    post("account/<account_id>/orders", accounts.orders)
    post("new-order", orders.new_order)
    post("order/<order_id>", orders.order)
    post("order/<order_id>/finalize", orders.finalize)
    post("authz/<authz_id>", orders.authorization)
    post("challenge/<challenge_id>", challenges.challenge)
    post("certificate/<serial>", certificates.certificate)
    post("certificate/<serial>/<int:index>", certificates.certificate, name="alternate")
    post("revoke-cert", certificates.revoke, allow_jwk=True)
    post("key-change", keychange.key_change)

    @app.get("/acme/<provisioner>/directory")
    async def directory(provisioner: str) -> Response:
        prov = acme.provisioner(provisioner)
        return _response(Reply(200, accounts.directory(prov, urls_for(prov.name))))

    @app.get("/acme/<provisioner>/renewal-info/<cert_id>")
    async def renewal(provisioner: str, cert_id: str) -> Response:
        acme.provisioner(provisioner)
        return _response(renewal_info.renewal_info(acme, cert_id))

    @app.route("/acme/<provisioner>/new-nonce", methods=["GET", "HEAD"])
    async def new_nonce(provisioner: str) -> Response:
        acme.provisioner(provisioner)
        response = Response(b"", status=200 if request.method == "HEAD" else 204)
        del response.headers["Content-Type"]  # no body, so no media type
        return response

    @app.get("/health")
    async def health() -> Response:
        return _response(Reply(200, {"status": "ok"}))

    @app.get("/roots.pem")
    async def roots() -> Response:
        return Response(authority.roots_pem(), content_type="application/pem-certificate-chain")

    @app.get("/intermediates.pem")
    async def intermediates() -> Response:
        return Response(
            authority.intermediates_pem(), content_type="application/pem-certificate-chain"
        )

    @app.get("/crl/<ca_id>.crl")
    async def crl(ca_id: str) -> Response:
        try:
            data = authority.current_crl(ca_id)
        except NotFound:
            return Response(b"unknown CA\n", status=404, content_type="text/plain")
        return Response(data, content_type="application/pkix-crl")

    app.register_blueprint(ocsp.blueprint(authority))

    @app.before_request
    async def start_clock() -> None:
        g.started = time.perf_counter()

    @app.before_request
    async def read_body() -> None:
        """Read the whole body (at most MAX_BODY) before any early answer (404, 405, 415): a
        body left unread makes Hypercorn drop the kept-alive connection, now and then under
        the client's next request."""
        await request.get_data()

    @app.after_request
    async def acme_headers(response: Response) -> Response:
        parts = request.path.split("/")
        if len(parts) < 4 or parts[1] != "acme":
            return response
        if parts[3] == "directory" and request.method in ("GET", "HEAD"):
            return response
        urls = urls_for(parts[2])
        response.headers.add("Link", urls.index_link())
        if "Replay-Nonce" not in response.headers:
            nonce = g.get("nonce") or acme.store.new_nonce(authority.clock())
            response.headers["Replay-Nonce"] = nonce
        if parts[3] == "new-nonce" or request.method == "POST":
            response.headers["Cache-Control"] = "no-store"
        acme.events.publish(
            "acme.request",
            method=request.method,
            path=request.path,
            status=response.status_code,
            account=g.get("account"),
            latency_ms=round(
                (time.perf_counter() - g.get("started", time.perf_counter())) * 1000, 2
            ),
        )
        return response

    @app.errorhandler(Problem)
    async def problem(error: Problem) -> Response:
        return _problem_response(error)

    @app.errorhandler(StepuiError)
    async def core_error(error: StepuiError) -> Response:
        return _problem_response(Problem.from_error(error))

    @app.errorhandler(HTTPException)
    async def http_error(error: HTTPException) -> Response:
        status = error.code or 500
        allowed = dict(error.get_headers()).get("Allow", "") if status == 405 else ""
        methods = sorted(m.strip() for m in allowed.split(",") if m.strip() not in ("", "OPTIONS"))
        hint = "POST (POST-as-GET to fetch)" if methods == ["POST"] else " or ".join(methods)
        details = {
            404: "no such resource",
            405: f"{request.method} is not allowed on {request.path}; use {hint}",
            413: f"the request body exceeds {MAX_BODY // 1024} kB",
        }
        detail = details.get(status, error.description or error.name)
        response = _problem_response(Problem("malformed", detail, status=status))
        if allowed:
            response.headers["Allow"] = allowed
        return response

    @app.errorhandler(Exception)
    async def crash(error: Exception) -> Response:
        log.exception("internal error on %s %s", request.method, request.path)
        return _problem_response(Problem("serverInternal", "internal server error", status=500))

    @app.after_serving
    async def stop_tasks() -> None:
        await acme.shutdown()

    app.extensions["stepui.acme"] = acme
    return app


def _response(reply: Reply) -> Response:
    data = json.dumps(reply.body).encode() if isinstance(reply.body, dict) else reply.body or b""
    response = Response(data, status=reply.status, content_type=reply.content_type)
    for name, value in reply.headers.items():
        response.headers[name] = value
    for link in reply.links:
        response.headers.add("Link", link)
    return response


def _problem_response(problem: Problem) -> Response:
    response = Response(
        json.dumps(problem.document()),
        status=problem.status or 400,
        content_type=PROBLEM_CONTENT_TYPE,
    )
    for name, value in problem.headers.items():
        response.headers[name] = value
    return response
