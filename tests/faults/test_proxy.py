"""The fault proxy itself: each fault against a local echo server, then the ones the fault tests
rely on against the real RabbitMQ (kombu) and PostgreSQL (SQLAlchemy with psycopg)."""

from __future__ import annotations

import socket
import socketserver
import threading
import time
from collections.abc import Iterator
from contextlib import suppress

import pytest
from kombu import Connection
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

from tests.faults.proxy import FaultProxy
from tests.support import wait_until

pytestmark = pytest.mark.timeout(30)


class EchoServer(socketserver.ThreadingTCPServer):
    """Sends back whatever each connection sends; records how each connection ended."""

    allow_reuse_address = True
    block_on_close = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), EchoHandler)
        self.lock = threading.Lock()
        self.received = 0
        self.endings: list[str] = []

    def ended(self, how: str) -> None:
        with self.lock:
            self.endings.append(how)


class EchoHandler(socketserver.BaseRequestHandler):
    server: EchoServer
    request: socket.socket

    def handle(self) -> None:
        self.request.settimeout(10)
        try:
            while data := self.request.recv(65536):
                with self.server.lock:
                    self.server.received += len(data)
                self.request.sendall(data)
        except ConnectionResetError:
            self.server.ended("reset")
        except OSError as error:
            self.server.ended(type(error).__name__)
        else:
            self.server.ended("eof")


@pytest.fixture(autouse=True)
def no_threads_left() -> Iterator[None]:
    before = set(threading.enumerate())
    yield
    left = [t for t in threading.enumerate() if t not in before and t.is_alive()]
    assert not left, f"threads left running: {left}"


@pytest.fixture
def echo() -> Iterator[EchoServer]:
    server = EchoServer()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture
def proxy(echo: EchoServer) -> Iterator[FaultProxy]:
    host, port = echo.server_address[:2]
    with FaultProxy(str(host), int(port)) as proxy:
        yield proxy


def dial(proxy: FaultProxy) -> socket.socket:
    sock = socket.create_connection(proxy.address, timeout=2)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def round_trip(sock: socket.socket, data: bytes = b"ping") -> float:
    started = time.monotonic()
    sock.sendall(data)
    assert receive(sock, len(data)) == data
    return time.monotonic() - started


def receive(sock: socket.socket, size: int) -> bytes:
    chunks, left = [], size
    while left:
        chunk = sock.recv(left)
        assert chunk, "closed before everything came back"
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def assert_closed_at_once(proxy: FaultProxy) -> None:
    """A new connection is closed as soon as the proxy has it: reset (seen by connect() or by the
    first recv(), whichever comes after the RST), or at least ended."""
    with suppress(ConnectionResetError), dial(proxy) as sock:
        assert sock.recv(1) == b""


# -- against the echo server ----------------------------------------------------------------


def test_forwards_both_ways_and_counts(proxy: FaultProxy, echo: EchoServer) -> None:
    big = bytes(range(256)) * 4096  # 1 MiB: more than the sockets buffer, more than one chunk
    with dial(proxy) as first, dial(proxy) as second:
        sender = threading.Thread(target=first.sendall, args=(big,))
        sender.start()
        assert receive(first, len(big)) == big
        sender.join()
        round_trip(second, b"hello")
        stats = proxy.stats()
        assert (stats.accepted, stats.open) == (2, 2)
        assert stats.bytes_up == stats.bytes_down == len(big) + 5 == echo.received
    wait_until(lambda: proxy.stats().open == 0, 2, what="both connections closed")
    wait_until(lambda: echo.endings == ["eof", "eof"], 2, what="the FINs passed on")


def test_latency_delays_each_chunk_both_ways(proxy: FaultProxy) -> None:
    with dial(proxy) as sock:
        direct = round_trip(sock)
        proxy.latency(0.15)
        delayed = round_trip(sock)
        proxy.latency(0)
        cleared = round_trip(sock)
    assert delayed >= 0.3 > direct
    assert cleared < 0.1


def test_reset_aborts_both_sides_and_new_connections_work(
    proxy: FaultProxy, echo: EchoServer
) -> None:
    with dial(proxy) as doomed:
        round_trip(doomed)
        assert proxy.reset() == 1
        with pytest.raises(ConnectionResetError):
            doomed.recv(1)
    wait_until(lambda: echo.endings == ["reset"], 2, what="the upstream side reset too")
    with dial(proxy) as fresh:
        round_trip(fresh)
        stats = proxy.stats()
        assert (stats.accepted, stats.resets, stats.open) == (2, 1, 1)


def test_half_open_silences_client_to_upstream_until_healed(
    proxy: FaultProxy, echo: EchoServer
) -> None:
    with dial(proxy) as sock:
        round_trip(sock)
        before = proxy.stats()
        proxy.half_open()
        sock.sendall(b"anyone?")
        sock.settimeout(0.3)
        with pytest.raises(TimeoutError):  # no data, but no FIN or RST either
            sock.recv(16)
        assert echo.received == 4 and echo.endings == []
        assert proxy.stats() == before
        proxy.heal()
        sock.settimeout(2)
        assert receive(sock, 7) == b"anyone?"


def test_half_open_silences_upstream_to_client_until_healed(
    proxy: FaultProxy, echo: EchoServer
) -> None:
    with dial(proxy) as sock:
        proxy.latency(0.3)  # hold the answer in the proxy long enough to cut it off
        sock.sendall(b"x")
        wait_until(lambda: echo.received == 1, 2, what="the request through")
        proxy.half_open()
        sock.settimeout(0.5)
        with pytest.raises(TimeoutError):
            sock.recv(1)
        assert proxy.stats().bytes_down == 0
        proxy.heal()
        sock.settimeout(2)
        assert sock.recv(1) == b"x"


def test_refuse_closes_new_connections_until_accepted(proxy: FaultProxy) -> None:
    with dial(proxy) as open_before:
        proxy.refuse()
        assert_closed_at_once(proxy)
        round_trip(open_before)  # connections already open are left alone
        proxy.accept()
        with dial(proxy) as accepted:
            round_trip(accepted)
        stats = proxy.stats()
        assert (stats.accepted, stats.refused) == (3, 1)


def test_unreachable_upstream_closes_the_client() -> None:
    with socket.create_server(("127.0.0.1", 0)) as placeholder:
        port = placeholder.getsockname()[1]
    with FaultProxy("127.0.0.1", port) as proxy:
        assert_closed_at_once(proxy)
        assert proxy.stats().upstream_failures == 1


def test_stop_closes_connections_and_listener(echo: EchoServer) -> None:
    host, port = echo.server_address[:2]
    with FaultProxy(str(host), int(port)) as proxy, dial(proxy) as sock:
        round_trip(sock)
        proxy.stop()
        assert sock.recv(1) == b""
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(proxy.address, timeout=2)


def test_url_for_points_urls_at_the_proxy(proxy: FaultProxy) -> None:
    port = proxy.port
    assert (
        proxy.url_for("amqp://guest:guest@rabbit.example:5672//")
        == f"amqp://guest:guest@127.0.0.1:{port}//"
    )
    assert (
        proxy.url_for("postgresql+psycopg://postgres@db:5432/orders?connect_timeout=3")
        == f"postgresql+psycopg://postgres@127.0.0.1:{port}/orders?connect_timeout=3"
    )
    assert proxy.url_for("amqp://localhost//") == f"amqp://127.0.0.1:{port}//"
    assert FaultProxy.in_front_of("amqp://guest:guest@10.0.0.5//").upstream == ("10.0.0.5", 5672)
    assert FaultProxy.in_front_of("postgresql+psycopg://u@db:6543/x").upstream == ("db", 6543)


# -- against the real RabbitMQ and PostgreSQL -----------------------------------------------


@pytest.fixture
def broker_proxy(rabbitmq_url: str) -> Iterator[FaultProxy]:
    with FaultProxy.in_front_of(rabbitmq_url) as proxy:
        yield proxy


@pytest.fixture
def postgres_proxy(postgres_url: str) -> Iterator[FaultProxy]:
    with FaultProxy.in_front_of(postgres_url) as proxy:
        yield proxy


def declare_and_get(connection: Connection) -> bytes:
    """Declare a private queue, publish to it, get the message back."""
    channel = connection.channel()
    queue = channel.queue_declare(queue="", exclusive=True, auto_delete=True).queue
    connection.Producer(channel).publish(b"through the proxy", routing_key=queue)
    message = channel.basic_get(queue, no_ack=True)
    channel.close()
    return bytes(message.body)


@pytest.mark.real
def test_kombu_works_through_the_proxy(broker_proxy: FaultProxy, rabbitmq_url: str) -> None:
    with Connection(broker_proxy.url_for(rabbitmq_url)) as connection:
        assert declare_and_get(connection) == b"through the proxy"
    stats = broker_proxy.stats()
    assert stats.accepted == 1 and stats.bytes_up > 0 and stats.bytes_down > 0


@pytest.mark.real
def test_kombu_reset_fails_the_next_operation(broker_proxy: FaultProxy, rabbitmq_url: str) -> None:
    url = broker_proxy.url_for(rabbitmq_url)
    with Connection(url) as doomed:
        channel = doomed.channel()
        assert broker_proxy.reset() == 1
        with pytest.raises(doomed.connection_errors):
            channel.queue_declare(queue="", exclusive=True, auto_delete=True)
    with Connection(url) as fresh:
        assert declare_and_get(fresh) == b"through the proxy"
    assert broker_proxy.stats().accepted == 2


@pytest.mark.real
def test_kombu_heartbeat_detects_a_half_open_link(
    broker_proxy: FaultProxy, rabbitmq_url: str
) -> None:
    connection = Connection(broker_proxy.url_for(rabbitmq_url), heartbeat=2)
    try:
        connection.connect()

        def tick() -> None:
            with suppress(TimeoutError):
                connection.drain_events(timeout=0.2)
            connection.heartbeat_check(rate=2)

        before = broker_proxy.stats().bytes_down
        wait_until(lambda: broker_proxy.stats().bytes_down > before, 3, tick, "a heartbeat")
        broker_proxy.half_open()
        started = time.monotonic()
        with pytest.raises(connection.connection_errors, match="heartbeat"):
            while time.monotonic() - started < 8:
                tick()
        assert 3 < time.monotonic() - started < 7  # two heartbeat intervals, plus a tick
    finally:
        connection.collect()  # no close handshake over a dead link


@pytest.mark.real
def test_latency_slows_a_publish_confirm_round_trip(
    broker_proxy: FaultProxy, rabbitmq_url: str
) -> None:
    url = broker_proxy.url_for(rabbitmq_url)
    with Connection(url, transport_options={"confirm_publish": True}) as connection:
        channel = connection.channel()
        queue = channel.queue_declare(queue="", exclusive=True, auto_delete=True).queue
        producer = connection.Producer(channel)

        def confirmed_publish() -> float:
            started = time.monotonic()
            producer.publish(b"confirm me", routing_key=queue)
            return time.monotonic() - started

        direct = min(confirmed_publish() for _ in range(3))
        broker_proxy.latency(0.2)
        delayed = confirmed_publish()
        broker_proxy.latency(0)
    assert delayed >= 0.4 > direct  # the publish up, the ack down: 0.2 s each


@pytest.mark.real
def test_postgres_reset_breaks_the_next_query(
    postgres_proxy: FaultProxy, postgres_url: str
) -> None:
    engine = create_engine(
        postgres_proxy.url_for(postgres_url),
        poolclass=NullPool,
        connect_args={"connect_timeout": 3},
    )
    try:
        with engine.connect() as doomed:
            assert doomed.execute(text("select 1")).scalar() == 1
            assert postgres_proxy.reset() == 1
            with pytest.raises(OperationalError) as failure:
                doomed.execute(text("select 1"))
            assert failure.value.connection_invalidated
        with engine.connect() as fresh:
            assert fresh.execute(text("select 2")).scalar() == 2
        assert postgres_proxy.stats().accepted == 2
    finally:
        engine.dispose()
