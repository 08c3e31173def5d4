"""``/ocsp``: the OCSP responder over HTTP (RFC 6960 appendix A, RFC 5019).

POST carries the DER request as ``application/ocsp-request``; GET carries it base64 (and URL
encoded) in the path. Every answer, errors included, is an ``application/ocsp-response``:
an OCSP client understands nothing else.
"""

from __future__ import annotations

import base64
import binascii
from urllib.parse import unquote

from quart import Blueprint, Response, request

from stepui.authority.ocsp import OcspResponder
from stepui.authority.service import Authority

RESPONSE_TYPE = "application/ocsp-response"


def blueprint(authority: Authority) -> Blueprint:
    responder = OcspResponder(authority)
    routes = Blueprint("ocsp", __name__)

    def answer(der: bytes) -> Response:
        return Response(responder.respond(der), content_type=RESPONSE_TYPE)

    @routes.post("/ocsp")
    @routes.post("/ocsp/")
    async def post() -> Response:
        return answer(await request.get_data(cache=False))

    @routes.get("/ocsp/<path:encoded>")
    async def get(encoded: str) -> Response:
        return answer(_decode(encoded))

    return routes


def _decode(encoded: str) -> bytes:
    """Base64 (standard or URL-safe alphabet, padding optional); garbage decodes to b"" so the
    responder answers malformedRequest."""
    text = unquote(encoded).strip().replace("-", "+").replace("_", "/")
    text += "=" * (-len(text) % 4)
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return b""
