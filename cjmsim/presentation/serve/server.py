"""Running the what-if page: the listening socket, refused in one message when it cannot be had, and uvicorn
until Ctrl-C (or SIGTERM), after which open requests get a few seconds and the worker stops."""

from __future__ import annotations

import contextlib
import errno
import signal
import socket
import threading
from collections.abc import Iterator
from types import FrameType

from cjmsim.presentation.serve.app import ServeSettings, create_app
from cjmsim.scenario import ArgumentError

__all__ = ["GRACE_S", "hosts_for", "listen", "run", "url_of"]

#: Seconds open requests get to finish after Ctrl-C.
GRACE_S = 3


def listen(host: str, port: int) -> socket.socket:
    """A socket listening on ``host``:``port`` (0: a free port), or :class:`ArgumentError` on ``host`` (a name
    that does not resolve) or ``port`` (in use, or not allowed)."""
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        family, kind, proto, _, address = min(found, key=lambda a: a[0] != socket.AF_INET)  # IPv4 first
    except (socket.gaierror, UnicodeError) as e:
        raise ArgumentError("host", f" {host!r}: not an address of this machine ({e})") from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as e:
        sock.close()
        why = "it is in use: choose another --port" if e.errno == errno.EADDRINUSE else f"{e.strerror or e}"
        raise ArgumentError("port", f" {port}: cannot listen on {host}:{port}: {why}") from None
    sock.set_inheritable(True)
    return sock


def url_of(sock: socket.socket) -> str:
    """The page's address on ``sock``: ``http://127.0.0.1:8000/``."""
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/"


def hosts_for(host: str) -> tuple[str, ...]:
    """The Host header values the page answers to: the loopback names and ``host``; any (``*``) when bound to
    every interface (``0.0.0.0`` or ``::``), whose clients use names the server cannot know."""
    if host in ("0.0.0.0", "::", ""):
        return ("*",)
    return tuple(dict.fromkeys(("127.0.0.1", "localhost", "::1", "[::1]", host)))


def _stop(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def _stopped_by_signals() -> Iterator[None]:
    """Ctrl-C and SIGTERM end the server the same way: uvicorn shuts down, then re-raises the signal it
    caught, which becomes a KeyboardInterrupt caught here."""
    main = threading.current_thread() is threading.main_thread()
    previous = {s: signal.signal(s, _stop) for s in (signal.SIGINT, signal.SIGTERM)} if main else {}
    try:
        yield
    except KeyboardInterrupt:
        pass
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def run(settings: ServeSettings, sock: socket.socket) -> None:
    """Serve the page on ``sock`` until Ctrl-C or SIGTERM; returns when every request has finished (or
    after :data:`GRACE_S`) and waiting simulations were dropped."""
    import uvicorn

    config = uvicorn.Config(
        create_app(settings),
        log_level="warning",
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=GRACE_S,
        server_header=False,
    )
    with _stopped_by_signals():
        uvicorn.Server(config).run(sockets=[sock])
    sock.close()
