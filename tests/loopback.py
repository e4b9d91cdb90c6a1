"""An HTTP server on loopback that answers every POST with what a test's function makes of the body: the TSAs
and misbehaving witnesses the custody tests talk to."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

Answer = Callable[[bytes, str], bytes]  # (request body, its Content-Type) -> response body


@contextmanager
def post_server(answer: Answer, content_type: str = "application/octet-stream") -> Iterator[str]:
    """Serve `answer` with 200 and `content_type` while the block runs; yields the server's base URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = answer(self.rfile.read(int(self.headers["Content-Length"])), self.headers.get("Content-Type", ""))
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
