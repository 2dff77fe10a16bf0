"""A TLS-terminating TCP proxy that records what clients send: HTTPS in front of a plain-HTTP server.

The Cosmos DB protocol server speaks HTTP and ignores authentication, while the azure-cosmos SDK sends an
Entra ID token only over HTTPS (azure-core refuses bearer tokens on http://). With this proxy in front,
the SDK runs its real Entra ID path against the real protocol server, and a test can read the request
heads it sent (`request_heads()`), e.g. its `authorization: type=aad&ver=1.0&sig=<token>` header.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading

from scripts.devservices import HOST, free_port
from tests.fakes.tls import TlsFiles


class RecordingTlsProxy:
    def __init__(self, tls: TlsFiles, target_port: int, target_host: str = HOST) -> None:
        self._context = tls.server_context()
        self._target = (target_host, target_port)
        self._listener: socket.socket | None = None
        self._threads: list[threading.Thread] = []
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._sent = bytearray()  # everything clients sent, decrypted, in arrival order
        self.port = 0

    @property
    def url(self) -> str:
        return f"https://{HOST}:{self.port}/"

    def request_heads(self) -> list[str]:
        """The request line and headers of every HTTP request clients sent (bodies left out)."""
        with self._lock:
            text = self._sent.decode("latin-1")
        heads = []
        for line_start in range(len(text)):
            if (line_start == 0 or text[line_start - 1] == "\n") and text.startswith(
                ("GET ", "POST ", "PUT ", "DELETE ", "PATCH ", "HEAD "), line_start
            ):
                end = text.find("\r\n\r\n", line_start)
                heads.append(text[line_start : end if end >= 0 else len(text)])
        return heads

    def start(self) -> RecordingTlsProxy:
        self.port = free_port()
        listener = socket.create_server((HOST, self.port))
        listener.settimeout(0.2)
        self._listener = listener
        self._spawn(self._accept_loop)
        return self

    def _spawn(self, target, *args) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        thread.start()
        with self._lock:
            self._threads.append(thread)

    def _accept_loop(self) -> None:
        while self._listener is not None:
            try:
                raw, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._spawn(self._serve, raw)

    def _serve(self, raw: socket.socket) -> None:
        try:
            client = self._context.wrap_socket(raw, server_side=True)
        except (ssl.SSLError, OSError):
            raw.close()
            return
        try:
            upstream = socket.create_connection(self._target)
        except OSError:
            client.close()
            return
        with self._lock:
            self._sockets.update((client, upstream))
        self._spawn(self._pump, upstream, client, False)
        self._pump(client, upstream, True)

    def _pump(self, source: socket.socket, sink: socket.socket, record: bool) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                if record:
                    with self._lock:
                        self._sent.extend(data)
                sink.sendall(data)
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def stop(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()
        with self._lock:
            sockets, threads = list(self._sockets), list(self._threads)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        for thread in threads:
            thread.join(timeout=5)

    def __enter__(self) -> RecordingTlsProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
