"""Several server processes on one listening socket: fork, forward the stop signal, reap.

Why not ``hypercorn.run`` with ``config.workers``: it starts workers with multiprocessing's
*spawn*, so each one re-imports everything and rebuilds the app from a ``module:app`` string
out of a pickled Config (our Config carries an ``SSLContext``, which does not pickle), and it
owns the signal handling. Forking after the parent has bound the socket, checked the CA
password and made sure of the server certificate gives each worker the decrypted CA key, the
socket and the parsed configuration at no cost; each worker then runs the very coroutine a
single-process ``--serve`` runs (``server.serve.serve``), with its own event loop, TLS
context and SQLite connection (nothing that holds a database connection crosses the fork).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable

log = logging.getLogger("stepui.server")

# SIGHUP too: a closed terminal or a stray ``kill -HUP`` must not kill the parent alone and
# leave its workers serving unsupervised.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
ORPHAN_CHECK = 0.5  # seconds between a worker's checks that its parent is still there


def supervise(count: int, worker: Callable[[int], int]) -> int:
    """Fork ``count`` processes running ``worker(index)`` (its return value is the process's
    exit code) and wait for all of them.

    SIGINT, SIGTERM or SIGHUP to this process is passed on to every worker as SIGTERM; the result is
    0 when all workers stopped cleanly on request. A worker that ends on its own (a crash)
    stops the others and the result is 1: half a server is not left running."""
    children: dict[int, int] = {}
    stopping = False

    def stop(signum: int = signal.SIGTERM, frame: object = None) -> None:
        nonlocal stopping
        stopping = True
        for pid in children:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    previous = {signum: signal.signal(signum, stop) for signum in STOP_SIGNALS}
    parent = os.getpid()
    try:
        for index in range(count):
            # Blocked while forking, so a signal cannot fall between fork and registration.
            signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
            try:
                pid = os.fork()
                if pid == 0:
                    _run_child(worker, index, parent)
                children[pid] = index
            finally:
                signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
            if stopping:
                stop()
        failed = False
        while children:
            pid, status = os.wait()
            index = children.pop(pid, None)
            if index is None:
                continue
            code = os.waitstatus_to_exitcode(status)
            if not stopping or code != 0:
                log.error("worker %d (pid %d) ended with status %d", index, pid, code)
                failed = True
                stop()
        return 1 if failed else 0
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _run_child(worker: Callable[[int], int], index: int, parent: int) -> None:
    """The forked process: never returns into the parent's code (``os._exit``)."""
    code = 1
    try:
        for signum in STOP_SIGNALS:
            signal.signal(signum, _stop_before_serving)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
        threading.Thread(target=_stop_when_orphaned, args=(parent,), daemon=True).start()
        code = worker(index)
    except BaseException:
        log.exception("worker %d crashed", index)
    finally:
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _stop_when_orphaned(parent: int) -> None:
    """Stop this worker (as SIGTERM would) once its parent is gone: a parent killed with
    SIGKILL or by the OOM killer cannot pass the stop on, and a worker left alone would keep
    the port and serve unsupervised."""
    while os.getppid() == parent:
        time.sleep(ORPHAN_CHECK)
    log.warning("the supervising process %d is gone; stopping", parent)
    os.kill(os.getpid(), signal.SIGTERM)


stop_requested = False


def _stop_before_serving(signum: int, frame: object) -> None:
    """A stop signal that arrives before the worker's event loop took over signal handling."""
    global stop_requested
    stop_requested = True
