"""The challenge resource and its validation (RFC 8555 §7.5.1, §8).

A client's ``POST {}`` moves the challenge to ``processing`` and starts validation in a task
that outlives the request. The request then waits a short grace period: validation against a
nearby responder usually ends within it, so the answer (and the client's first poll) already
shows the outcome; a slow validation simply continues and the client polls.
"""

from __future__ import annotations

import asyncio
import logging

from server.context import Acme, Call, Reply
from server.orders import authz_status, render_challenge
from server.problems import Problem
from server.validation import ChallengeFailed, key_authorization, validate
from stepui.store.acme import Authorization, Challenge

log = logging.getLogger("stepui.server")

VALIDATION_GRACE = 1.0  # seconds a challenge POST waits for its validation to end


async def challenge(call: Call, challenge_id: str) -> Reply:
    found = call.store.challenge(challenge_id)
    if found is None:
        raise Problem("malformed", f"no challenge {challenge_id}", status=404)
    current, authz = found
    call.owned(authz.account_id, "challenge")
    if call.verified.payload != b"":
        call.verified.json()  # RFC 8555 §7.5.1: an object, whose fields are ignored
        if current.status == "pending" and authz_status(authz, call.now) == "pending":
            current = await _start(call, current, authz)
    reply = Reply(
        200, render_challenge(call.urls, current), links=[f'<{call.urls.authz(authz.id)}>;rel="up"']
    )
    if current.status == "processing":
        reply.headers["Retry-After"] = "1"
    return reply


async def _start(call: Call, current: Challenge, authz: Authorization) -> Challenge:
    if not call.store.start_challenge(current.id, authz.id):
        return current
    task = call.acme.spawn(run_validation(call.acme, current, authz, call.verified.key.thumbprint))
    await asyncio.wait({task}, timeout=VALIDATION_GRACE)
    found = call.store.challenge(current.id)
    return found[0] if found else current


async def run_validation(
    acme: Acme, current: Challenge, authz: Authorization, thumbprint: str
) -> None:
    """Validate and record the outcome; never raises (it runs detached from any request)."""
    error = None
    try:
        await validate(
            current.type,
            authz.identifier_type,
            authz.identifier_value,
            current.token,
            key_authorization(current.token, thumbprint),
            acme.validation_settings(),
        )
    except ChallengeFailed as failure:
        error = Problem(failure.acme_type, failure.detail).document()
    except asyncio.CancelledError:
        error = Problem("serverInternal", "the server stopped during validation").document()
    except Exception:
        log.exception("challenge %s: validation crashed", current.id)
        error = Problem("serverInternal", "validation failed unexpectedly").document()
    identifier = f"{authz.identifier_type}:{authz.identifier_value}"
    try:
        acme.store.finish_challenge(current, authz.order_id, acme.authority.clock(), error)
    except Exception:
        log.exception("challenge %s: cannot record the validation outcome", current.id)
        return
    if error is None:
        acme.events.publish(
            "acme.challenge.validated", type=current.type, identifier=identifier, detail=""
        )
    else:
        acme.events.publish(
            "acme.challenge.failed",
            type=current.type,
            identifier=identifier,
            detail=error["detail"],
        )
