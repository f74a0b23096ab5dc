"""A local HTTP server (127.0.0.1, a thread per test) for download tests; nothing leaves the machine."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

DATA = os.urandom(300_000)
SHA = hashlib.sha256(DATA).hexdigest()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # keep test output quiet
        pass

    def do_GET(self):  # noqa: N802
        srv = self.server
        srv.requests.append({"path": self.path, "range": self.headers.get("Range"),
                             "if_range": self.headers.get("If-Range"),
                             "authorization": self.headers.get("Authorization")})
        if self.path == "/missing" or (self.path.startswith("/repo/") and self.path not in srv.files):
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.path in srv.redirects:
            self.send_response(302)
            self.send_header("Location", srv.redirects[self.path])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.path == "/endless":  # no length, never ends: only the client's ceiling stops it
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                while True:
                    self.wfile.write(b"\0" * 65536)
            return
        if self.path == "/slow":
            time.sleep(srv.slow)
        body = srv.files.get(self.path, srv.body)
        start = 0
        m = re.match(r"bytes=(\d+)-$", self.headers.get("Range") or "")
        if_range = self.headers.get("If-Range")
        if m and srv.honour_if_range and if_range is not None and if_range not in (srv.etag, srv.last_modified):
            m = None  # the file changed since the client's copy: send all of it (RFC 9110 13.1.5)
        if m and srv.honour_range:
            start = int(m.group(1))
            if start >= len(body):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        rest = body[start:]
        self.send_header("Content-Length", str(len(rest)))
        if srv.etag:
            self.send_header("ETag", srv.etag)
        if srv.last_modified:
            self.send_header("Last-Modified", srv.last_modified)
        self.end_headers()
        if srv.drop_after is not None:
            cut, srv.drop_after = srv.drop_after, None  # drop once, midway
            self.wfile.write(rest[:cut])
            self.wfile.flush()
            self.close_connection = True
            return
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client cancelled or timed out
            self.wfile.write(rest)


@contextlib.contextmanager
def local_server():
    """A threaded HTTP server on 127.0.0.1 with knobs the tests turn (see ``Handler``)."""
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    srv.files, srv.body, srv.honour_range, srv.drop_after, srv.slow, srv.requests = {}, DATA, True, None, 0.0, []
    srv.etag, srv.last_modified, srv.honour_if_range, srv.redirects = None, None, True, {}
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}"
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(5)


@pytest.fixture
def server():
    with local_server() as srv:
        yield srv


