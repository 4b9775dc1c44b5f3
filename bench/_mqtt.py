"""A lean MQTT 3.1.1 client for benchmarks: pipelined QoS 1 publishing with a window of
unacknowledged messages, and a counting QoS 1 subscriber. Pre-encoded packets, plain sockets,
so the load generator is not the bottleneck it measures."""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Iterable, Sequence


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _text(value: str | bytes) -> bytes:
    data = value.encode() if isinstance(value, str) else value
    return struct.pack("!H", len(data)) + data


def publish_packet(topic: str, payload: bytes, packet_id: int) -> bytes:
    """A QoS 1 PUBLISH packet."""
    body = _text(topic) + struct.pack("!H", packet_id) + payload
    return b"\x32" + _varint(len(body)) + body


class Connection:
    """A connected MQTT 3.1.1 session with a packet reader."""

    def __init__(self, host: str, port: int, client_id: str, username: str | None = None,
                 password: str | None = None, clean: bool = True) -> None:
        self.sock = socket.create_connection((host, port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
        flags = (0x02 if clean else 0) | (0x80 if username else 0) | (0x40 if password else 0)
        body = _text("MQTT") + bytes([4, flags]) + struct.pack("!H", 300) + _text(client_id)
        body += (_text(username) if username else b"") + (_text(password) if password else b"")
        self.sock.sendall(b"\x10" + _varint(len(body)) + body)
        self._buffer = bytearray()
        self._pos = 0
        kind, data = self.read_packet()
        if kind != 0x20 or data[1] != 0:
            raise ConnectionError(f"CONNACK refused: {data!r}")

    def read_packet(self) -> tuple[int, bytes]:
        """The next packet's type nibble (<< 4) and body."""
        for kind, _, body in self.packets():
            return kind, body
        raise ConnectionError("connection closed")

    def _next(self) -> tuple[int, int, bytes] | None:
        """The next complete packet in the buffer as (type, flags, body), if any."""
        buf, pos = self._buffer, self._pos
        if len(buf) - pos < 2:
            return None
        length, multiplier, index = 0, 1, pos + 1
        while True:
            if index >= len(buf):
                return None
            byte = buf[index]
            length += (byte & 0x7F) * multiplier
            multiplier *= 128
            index += 1
            if not byte & 0x80:
                break
        end = index + length
        if len(buf) < end:
            return None
        self._pos = end
        return buf[pos] & 0xF0, buf[pos] & 0x0F, bytes(buf[index:end])

    def pending(self) -> bool:
        """Whether unparsed bytes are buffered."""
        return self._pos < len(self._buffer)

    def packets(self) -> Iterable[tuple[int, int, bytes]]:
        """Every packet as (type, flags, body) until the connection closes."""
        while True:
            while (packet := self._next()) is not None:
                yield packet
            del self._buffer[:self._pos]
            self._pos = 0
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                return
            self._buffer += chunk

    def close(self) -> None:
        """DISCONNECT and close."""
        try:
            self.sock.sendall(b"\xe0\x00")
        finally:
            self.sock.close()


class Publisher:
    """Publishes pre-built messages at QoS 1 with at most `window` unacknowledged."""

    def __init__(self, connection: Connection, window: int = 4000) -> None:
        self.connection = connection
        self.window = threading.Semaphore(window)
        self.acked = 0
        self.refused = 0
        self._done = threading.Event()
        self._expected = 0
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for kind, _, _ in self.connection.packets():
            if kind == 0x40:  # PUBACK
                self.acked += 1
                self.window.release()
                if self.acked >= self._expected:
                    self._done.set()

    def run(self, messages: Sequence[tuple[str, bytes]], chunk: int = 200) -> float:
        """Publish everything and wait for every PUBACK; seconds taken (callable again)."""
        self._done.clear()
        self._expected += len(messages)
        started = time.perf_counter()
        pending: list[bytes] = []
        for n, (topic, payload) in enumerate(messages):
            self.window.acquire()
            pending.append(publish_packet(topic, payload, n % 65535 + 1))
            if len(pending) >= chunk:
                self.connection.sock.sendall(b"".join(pending))
                pending = []
        if pending:
            self.connection.sock.sendall(b"".join(pending))
        if self.acked < self._expected:
            self._done.wait(600)
        return time.perf_counter() - started


class Counter:
    """A QoS 1 subscriber that acknowledges and counts what it receives."""

    def __init__(self, connection: Connection, topic_filter: str) -> None:
        self.connection = connection
        body = struct.pack("!H", 1) + _text(topic_filter) + b"\x01"
        connection.sock.sendall(b"\x82" + _varint(len(body)) + body)
        kind, _ = connection.read_packet()
        if kind != 0x90:
            raise ConnectionError("no SUBACK")
        self.received = 0
        self.first: float | None = None
        self.last: float | None = None
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        acks: list[bytes] = []
        for kind, flags, body in self.connection.packets():
            if kind != 0x30:
                continue
            self.received += 1
            self.last = time.perf_counter()
            if self.first is None:
                self.first = self.last
            if flags & 0x06:
                topic_length = struct.unpack("!H", body[:2])[0]
                packet_id = body[2 + topic_length:4 + topic_length]
                acks.append(b"\x40\x02" + packet_id)
            if len(acks) >= 100 or not self.connection.pending():
                self.connection.sock.sendall(b"".join(acks))
                acks = []
