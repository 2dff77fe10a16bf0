"""An HTTP proxy in front of the Cosmos DB protocol server that throttles document requests as Cosmos
does: status 429, substatus 3200 and `x-ms-retry-after-ms`, so the real azure-cosmos SDK runs its real
throttle-retry policy. Everything else (account, database, container calls) passes through."""

from __future__ import annotations

import http.client
import threading
from urllib.parse import urlsplit

from tests.fakes.http import FakeServer, JsonHandler

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "proxy-connection"}


class ThrottlingProxy(FakeServer):
    def __init__(self, target_url: str, retry_after_ms: int = 20) -> None:
        super().__init__(_Handler)
        target = urlsplit(target_url)
        self.target = (target.hostname, target.port)
        self.retry_after_ms = retry_after_ms
        self._lock = threading.Lock()
        self._throttle_next = 0
        self.document_requests = 0  # every request on /docs, throttled or passed on
        self.throttled = 0

    @property
    def url(self) -> str:
        return self.base_url + "/"

    def throttle(self, requests: int) -> None:
        """Answer the next `requests` document requests with 429 (a large number: throttle them all)."""
        with self._lock:
            self._throttle_next = requests
            self.document_requests = self.throttled = 0

    def take(self, path: str) -> bool:
        """Counts a request; True when it is to be throttled."""
        if "/docs" not in path:
            return False
        with self._lock:
            self.document_requests += 1
            if self._throttle_next > 0:
                self._throttle_next -= 1
                self.throttled += 1
                return True
            return False


class _Handler(JsonHandler):
    def _handle(self) -> None:
        proxy: ThrottlingProxy = self.server.fake
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if proxy.take(self.path):
            self.reply(
                429,
                {"code": "429", "message": "Request rate is large. More Request Units may be needed."},
                {"x-ms-retry-after-ms": str(proxy.retry_after_ms), "x-ms-substatus": "3200"},
            )
            return
        upstream = http.client.HTTPConnection(*proxy.target, timeout=30)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            upstream.request(self.command, self.path, body=body or None, headers=headers)
            response = upstream.getresponse()
            data = response.read()
        finally:
            upstream.close()
        self.send_response(response.status)
        for name, value in response.getheaders():
            if name.lower() not in HOP_BY_HOP:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle
