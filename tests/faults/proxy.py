"""A small TCP proxy that breaks the links through it on demand (Toxiproxy's job, in-process).

``FaultProxy`` listens on ``127.0.0.1:<free port>`` and forwards every connection to one upstream
``host:port`` from a background thread. Faults are switched at runtime, open connections
included; every switch takes effect before the call returns::

    with FaultProxy.in_front_of(rabbitmq_url) as proxy:
        connection = Connection(proxy.url_for(rabbitmq_url), heartbeat=2)
        proxy.latency(0.2)   # each chunk waits 0.2 s, both ways; latency(0) clears it
        proxy.half_open()    # nothing moves either way, nothing is closed; heal() clears it
        proxy.reset()        # every open connection aborted with an RST, on both sides
        proxy.refuse()       # new connections closed at once (an RST); accept() clears it
        proxy.stats()        # connections and bytes, for assertions

One thread owns every socket: the control methods hand it a closure and wait for it to run, so
no socket is touched from two threads and a fault is in force once its method returns.
"""

from __future__ import annotations

import select
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from contextlib import suppress
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self, TypeVar
from urllib.parse import urlsplit, urlunsplit

T = TypeVar("T")

CHUNK = 65536
MAX_QUEUED = 1 << 20  # stop reading a side while this much waits to be written to the other
DEFAULT_PORTS = {"amqp": 5672, "amqps": 5671, "postgresql": 5432, "postgres": 5432}
READABLE = select.POLLIN | select.POLLERR | select.POLLHUP
WRITABLE = select.POLLOUT | select.POLLERR | select.POLLHUP


@dataclass(frozen=True)
class Stats:
    accepted: int  # clients the listener accepted, refused ones included
    refused: int  # closed at once by refuse()
    upstream_failures: int  # closed because the upstream could not be reached
    open: int  # being forwarded now
    resets: int  # aborted by reset()
    bytes_up: int  # forwarded client → upstream
    bytes_down: int  # forwarded upstream → client


def abort(sock: socket.socket) -> None:
    """Close with an RST instead of a FIN (SO_LINGER on, timeout 0)."""
    with suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


class _Pipe:
    """One direction of a connection: chunks read from ``source`` wait here, each until its due
    time, to be written to ``sink``."""

    def __init__(self, source: socket.socket, sink: socket.socket, upstream: bool) -> None:
        self.source, self.sink, self.upstream = source, sink, upstream
        self.chunks: deque[tuple[float, bytes]] = deque()
        self.queued = 0
        self.eof = False  # the source sent its FIN
        self.shut = False  # ... and it was passed on to the sink

    def wants_read(self) -> bool:
        return not self.eof and self.queued < MAX_QUEUED

    def due(self) -> float | None:
        return self.chunks[0][0] if self.chunks else None


class _Link:
    def __init__(self, client: socket.socket, upstream: socket.socket) -> None:
        self.client, self.upstream = client, upstream
        self.pipes = (_Pipe(client, upstream, True), _Pipe(upstream, client, False))


class FaultProxy:
    def __init__(self, upstream_host: str, upstream_port: int, connect_timeout: float = 3.0):
        self.upstream = (upstream_host, upstream_port)
        self.connect_timeout = connect_timeout
        self.host = "127.0.0.1"
        self._port: int | None = None
        self._latency = 0.0
        self._halted = False
        self._refusing = False
        self._counts = dict.fromkeys(
            ("accepted", "refused", "upstream_failures", "resets", "bytes_up", "bytes_down"), 0
        )
        self._links: list[_Link] = []
        self._lock = threading.Lock()
        self._commands: deque[tuple[Callable[[], Any], Future[Any]]] = deque()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._failure: BaseException | None = None

    @classmethod
    def in_front_of(cls, url: str) -> FaultProxy:
        """A proxy to the host and port of an ``amqp://`` or ``postgresql://`` URL."""
        parts = urlsplit(url)
        port = parts.port or DEFAULT_PORTS[parts.scheme.split("+")[0]]
        return cls(parts.hostname or "127.0.0.1", port)

    # -- life cycle ---------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the proxy is not started")
        return self._port

    @property
    def address(self) -> tuple[str, int]:
        return self.host, self.port

    def url_for(self, url: str) -> str:
        """``url`` with its host and port replaced by the proxy's (user, path and query kept)."""
        parts = urlsplit(url)
        userinfo, at, _ = parts.netloc.rpartition("@")
        return urlunsplit(parts._replace(netloc=f"{userinfo}{at}{self.host}:{self.port}"))

    def start(self) -> Self:
        if self._thread is not None:
            raise RuntimeError("the proxy is already running")
        self._listener = socket.create_server((self.host, 0))
        self._listener.setblocking(False)
        self._port = self._listener.getsockname()[1]
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._stopping, self._failure = False, None
        self._thread = threading.Thread(target=self._run, name=f"FaultProxy-{self._port}")
        self._thread.start()
        return self

    def stop(self) -> None:
        """Close the listener and every connection (with a FIN) and end the thread."""
        with self._lock:
            thread = self._thread
            if thread is None:
                return
            self._stopping = True
            self._wake()
        thread.join(5)
        self._thread = None
        if thread.is_alive():
            raise RuntimeError("the proxy thread did not stop")
        if self._failure is not None:
            raise RuntimeError("the proxy thread failed") from self._failure

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # -- faults -------------------------------------------------------------------------------

    def latency(self, seconds: float) -> None:
        """Hold every chunk read from now on ``seconds`` before writing it on; 0 clears it."""
        self._call(lambda: setattr(self, "_latency", max(0.0, seconds)))

    def reset(self) -> int:
        """Abort every open connection with an RST to both peers; return how many there were.
        New connections are forwarded as before (or refused, or silenced, as set)."""

        def reset_all() -> int:
            links, self._links = self._links, []
            for link in links:
                self._close(link, rst=True)
            self._counts["resets"] += len(links)
            return len(links)

        return self._call(reset_all)

    def half_open(self) -> None:
        """Forward nothing either way, read nothing, close nothing: to both peers the link goes
        silent, as when a cable is pulled, and only heartbeats can tell. New connections are
        accepted (and connected upstream) but just as silent."""
        self._call(lambda: setattr(self, "_halted", True))

    def heal(self) -> None:
        """End ``half_open()``: whatever was held back is delivered, then traffic flows."""
        self._call(lambda: setattr(self, "_halted", False))

    def refuse(self) -> None:
        """Close every new connection at once, with an RST; open ones are left alone."""
        self._call(lambda: setattr(self, "_refusing", True))

    def accept(self) -> None:
        """End ``refuse()``."""
        self._call(lambda: setattr(self, "_refusing", False))

    def stats(self) -> Stats:
        return self._call(lambda: Stats(open=len(self._links), **self._counts))

    # -- the thread ---------------------------------------------------------------------------

    def _call(self, action: Callable[[], T]) -> T:
        """Run ``action`` on the proxy thread (or here, when it is not running)."""
        with self._lock:
            if self._thread is None or self._stopping:
                return action()
            future: Future[T] = Future()
            self._commands.append((action, future))
            self._wake()
        return future.result(timeout=5)

    def _wake(self) -> None:
        with suppress(BlockingIOError):  # if it blocks, a wake-up is already pending
            self._wake_w.send(b"!")

    def _run(self) -> None:
        try:
            while not self._stopping:
                self._run_commands()
                self._step()
        except BaseException as error:
            self._failure = error
        finally:
            with self._lock:
                self._stopping = True
            self._run_commands()
            for link in self._links:
                self._close(link, rst=False)
            self._links = []
            for sock in (self._listener, self._wake_r, self._wake_w):
                sock.close()

    def _run_commands(self) -> None:
        while self._commands:
            action, future = self._commands.popleft()
            try:
                future.set_result(action())
            except Exception as error:
                future.set_exception(error)

    def _step(self) -> None:
        """Wait for the next thing to do (a socket ready, a chunk due, a command) and do it."""
        poller = select.poll()
        poller.register(self._wake_r, select.POLLIN)
        poller.register(self._listener, select.POLLIN)
        reading: dict[int, _Pipe] = {}
        writing: dict[int, _Pipe] = {}
        now, next_due = time.monotonic(), None
        if not self._halted:
            for link in self._links:
                for pipe in link.pipes:
                    if pipe.wants_read():
                        reading[pipe.source.fileno()] = pipe
                    due = pipe.due()
                    if due is not None and due <= now:
                        writing[pipe.sink.fileno()] = pipe
                    elif due is not None:
                        next_due = due if next_due is None else min(next_due, due)
        for fd in reading.keys() | writing.keys():
            wanted = (select.POLLIN if fd in reading else 0) | (
                select.POLLOUT if fd in writing else 0
            )
            poller.register(fd, wanted)
        timeout = None if next_due is None else max(0, int((next_due - now) * 1000) + 1)
        for fd, events in poller.poll(timeout):
            if fd == self._wake_r.fileno():
                self._wake_r.recv(4096)
            elif fd == self._listener.fileno():
                self._accept()
            else:
                if fd in writing and events & WRITABLE:
                    self._write(writing[fd])
                if fd in reading and events & READABLE:
                    self._read(reading[fd])
        if not self._halted:
            for link in list(self._links):
                self._pass_on_eof(link)

    def _accept(self) -> None:
        try:
            client, _ = self._listener.accept()
        except BlockingIOError:
            return
        self._counts["accepted"] += 1
        if self._refusing:
            self._counts["refused"] += 1
            abort(client)
            return
        try:
            upstream = socket.create_connection(self.upstream, timeout=self.connect_timeout)
        except OSError:
            self._counts["upstream_failures"] += 1
            abort(client)
            return
        for sock in (client, upstream):
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._links.append(_Link(client, upstream))

    def _read(self, pipe: _Pipe) -> None:
        link = self._link_of(pipe)
        if link is None:
            return
        try:
            data = pipe.source.recv(CHUNK)
        except BlockingIOError:
            return
        except OSError:  # the peer reset: pass it on
            self._drop(link, rst=True)
            return
        if not data:
            pipe.eof = True
            return
        pipe.chunks.append((time.monotonic() + self._latency, data))
        pipe.queued += len(data)

    def _write(self, pipe: _Pipe) -> None:
        link = self._link_of(pipe)
        if link is None:
            return
        due, data = pipe.chunks[0]
        try:
            sent = pipe.sink.send(data)
        except BlockingIOError:
            return
        except OSError:
            self._drop(link, rst=True)
            return
        self._counts["bytes_up" if pipe.upstream else "bytes_down"] += sent
        pipe.queued -= sent
        if sent == len(data):
            pipe.chunks.popleft()
        else:
            pipe.chunks[0] = (due, data[sent:])

    def _pass_on_eof(self, link: _Link) -> None:
        for pipe in link.pipes:
            if pipe.eof and not pipe.chunks and not pipe.shut:
                pipe.shut = True
                try:
                    pipe.sink.shutdown(socket.SHUT_WR)
                except OSError:
                    self._drop(link, rst=True)
                    return
        if all(pipe.shut for pipe in link.pipes):
            self._drop(link, rst=False)

    def _link_of(self, pipe: _Pipe) -> _Link | None:
        """The open link ``pipe`` belongs to (None once the link was dropped this step)."""
        for link in self._links:
            if pipe in link.pipes:
                return link
        return None

    def _drop(self, link: _Link, rst: bool) -> None:
        self._links.remove(link)
        self._close(link, rst)

    @staticmethod
    def _close(link: _Link, rst: bool) -> None:
        for sock in (link.client, link.upstream):
            if rst:
                abort(sock)
            else:
                sock.close()
