"""The studio's HTTP server: the page, a small JSON API, and nothing else.

Stdlib only (``http.server``). Safety rules: it listens on loopback unless told otherwise;
requests whose Host is not this server (DNS rebinding) or whose Origin is another site are
refused; bodies are size-limited (uploads by ``max_upload_bytes``, JSON by 1 MB); files are
served only from the package's static set and the current result's manifest; every error
is a JSON ``{"error": ...}`` with a 4xx status (5xx only for bugs), never a traceback.

API (all JSON unless a file):
    GET  /                       the page;  GET /static/NAME  its script and style
    GET  /api/state              uploads (and their lengths), saved scene, last result, limits
    POST /api/upload?name=N      raw file body -> {"name": "uploads/N", ...}
    POST /api/motion             {"text", "seconds"} -> the path the words give (docs/motion.md)
    POST /api/render             scene JSON -> {"job": id}
    GET  /api/jobs/ID            job state and progress
    POST /api/jobs/ID/cancel     ask a running render to stop
    GET  /api/result/NAME        a file of the last successful render
"""

from __future__ import annotations

import ipaddress
import json
import socket
import sys
import threading
import traceback
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from sonicmotion import __version__
from sonicmotion.errors import SonicMotionError
from sonicmotion.studio.workspace import RequestError, Workspace

MAX_JSON_BYTES = 1 << 20
MAX_JSON_DEPTH = 32  # a scene nests about 6 deep
REQUEST_TIMEOUT = 30.0  # seconds a request's body may take in all (and one read may stall)
HEADER_DEADLINE = 10.0  # seconds from waiting for a request to having its headers, whatever the pace
MAX_CONNECTIONS = 32  # served at once; more get 503 at once instead of a thread each
MAX_CLIENT_CONNECTIONS = 16  # of them from one address, so one client cannot hold every slot
MAX_DRAIN_BYTES = 64 << 20
STATIC_FILES = {"index.html": "text/html; charset=utf-8", "app.js": "text/javascript; charset=utf-8",
                "transport.js": "text/javascript; charset=utf-8", "style.css": "text/css; charset=utf-8"}
FILE_TYPES = {".wav": "audio/wav", ".flac": "audio/flac", ".json": "application/json", ".yaml": "text/yaml"}


def byte_range(header: str | None, size: int) -> tuple[int, int] | str | None:
    """The (first, last) byte of a one-range ``Range: bytes=...`` header for a ``size``-byte
    body; None to send it all (no header, or one we do not serve: several ranges, other
    units, malformed); ``"unsatisfiable"`` for a range outside the body (RFC 9110 §14)."""
    if not header or not header.strip().lower().startswith("bytes="):
        return None
    spec = header.strip()[len("bytes="):].strip()
    if "," in spec or "-" not in spec:
        return None
    first, last = (part.strip() for part in spec.split("-", 1))
    if not (first.isdigit() or first == "") or not (last.isdigit() or last == "") or first == last == "":
        return None
    if first == "":  # the last N bytes
        count = int(last)
        if count == 0 or size == 0:
            return "unsatisfiable"
        return max(0, size - count), size - 1
    start = int(first)
    end = size - 1 if last == "" else min(int(last), size - 1)
    if last != "" and int(last) < start:
        return None
    if start >= size:
        return "unsatisfiable"
    return start, end


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def describe_host(host: str, allow_hosts: tuple[str, ...] = ()) -> str:
    """One line saying who can reach a server bound to ``host``."""
    if is_loopback(host):
        return f"listening on {host} (loopback): only this computer can open the studio"
    names = ", ".join(allow_hosts) or "no other names (add --allow-host NAME for the address others type)"
    return (f"WARNING: listening on {host or 'all interfaces'}: other computers on the network can open the "
            f"studio, upload files and start renders; it has no login. Host names accepted besides loopback: "
            f"{names}. Use --host 127.0.0.1 unless you mean it")


class _QuietHTTPServer(ThreadingHTTPServer):
    request_queue_size = 128  # the default 5 resets connections under a burst of parallel requests

    def __init__(self, address, handler, max_connections: int = MAX_CONNECTIONS,
                 max_client_connections: int = MAX_CLIENT_CONNECTIONS):
        self._slots = threading.BoundedSemaphore(max_connections)
        self._max_client = max_client_connections
        self._per_client: dict[str, int] = {}
        self._per_client_lock = threading.Lock()
        super().__init__(address, handler)

    def _take_client_slot(self, client: str) -> bool:
        with self._per_client_lock:
            if self._per_client.get(client, 0) >= self._max_client:
                return False
            self._per_client[client] = self._per_client.get(client, 0) + 1
            return True

    def _release_client_slot(self, client: str) -> None:
        with self._per_client_lock:
            self._per_client[client] -= 1
            if not self._per_client[client]:
                del self._per_client[client]

    def process_request(self, request, client_address) -> None:
        # A thread per connection, but a bounded number of them, and of them per client address:
        # stalled clients cannot pile up, and one client cannot take every slot.
        if not self._take_client_slot(client_address[0]):
            self._busy(request)
            return
        if not self._slots.acquire(blocking=False):
            self._release_client_slot(client_address[0])
            self._busy(request)
            return
        super().process_request(request, client_address)

    def _busy(self, request) -> None:
        try:
            body = b'{"error": "the studio is busy; try again"}'
            request.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                            b"Connection: close\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n"
                            + body)
        except OSError:
            pass
        self.shutdown_request(request)

    def process_request_thread(self, request, client_address) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()
            self._release_client_slot(client_address[0])

    def handle_error(self, request, client_address) -> None:
        # A browser that navigates away mid-answer, or a client that stalls past the timeout,
        # is normal; anything else is a bug worth a trace.
        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError, TimeoutError)):
            return
        super().handle_error(request, client_address)


class StudioServer:
    """A studio on ``host:port`` (port 0 picks a free one) over a workspace folder."""

    def __init__(self, workspace: str | Path, host: str = "127.0.0.1", port: int = 8765,
                 model_dir: str | Path | None = None, max_upload_bytes: int = 50 * 1024 * 1024, generator=None,
                 allow_hosts: tuple[str, ...] = (), request_timeout: float = REQUEST_TIMEOUT,
                 max_connections: int = MAX_CONNECTIONS, library_dir: str | Path | None = None, library=None,
                 header_deadline: float = HEADER_DEADLINE, max_client_connections: int = MAX_CLIENT_CONNECTIONS):
        self.workspace = Workspace(workspace, model_dir, generator, library_dir, library)
        self.max_upload_bytes = int(max_upload_bytes)
        self.allow_hosts = tuple(allow_hosts)
        handler = type("StudioHandler", (_Handler,), {"timeout": request_timeout, "header_deadline": header_deadline})
        try:
            self.httpd = _QuietHTTPServer((host, port), handler, max_connections, max_client_connections)
        except OSError as err:
            raise SonicMotionError(f"cannot listen on {host}:{port} ({err.strerror or err})") from None
        self.httpd.daemon_threads = True
        self.httpd.studio = self
        self.host, self.port = host, self.httpd.server_address[1]
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        shown = self.host if self.host not in ("", "0.0.0.0", "::") else "127.0.0.1"
        if ":" in shown:
            shown = f"[{shown}]"
        return f"http://{shown}:{self.port}/"

    def allowed_hosts(self) -> set[str]:
        """Host headers accepted: this server's loopback names, the address it is bound to (when
        it is one address) and the ``allow_hosts`` names, each with the port, so a web page
        cannot reach it through a DNS name it controls (DNS rebinding), on loopback or not."""
        names = {"127.0.0.1", "localhost", "[::1]", *self.allow_hosts}
        if self.host not in ("", "0.0.0.0", "::"):
            names.add(f"[{self.host}]" if ":" in self.host else self.host)
        return {f"{name}:{self.port}" for name in names} | (names if self.port == 80 else set())

    def serve_forever(self) -> None:
        self.httpd.serve_forever(poll_interval=0.2)

    def start(self) -> "StudioServer":
        """Serve on a background thread (tests, notebooks)."""
        self._thread = threading.Thread(target=self.serve_forever, name="studio", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        if self._thread is not None:
            self.httpd.shutdown()
            self._thread.join(timeout=5)
        self.httpd.server_close()


def _depth(value: Any) -> int:
    """How deep lists and objects nest in a parsed JSON value (without recursion)."""
    deepest, todo = 0, [(value, 1)]
    while todo:
        item, level = todo.pop()
        if isinstance(item, (list, dict)):
            deepest = max(deepest, level)
            todo.extend((child, level + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


class _Handler(BaseHTTPRequestHandler):
    server_version = f"SonicMotionStudio/{__version__}"
    protocol_version = "HTTP/1.1"

    @property
    def studio(self) -> StudioServer:
        return self.server.studio

    header_deadline = HEADER_DEADLINE
    _timer: threading.Timer | None = None

    def log_message(self, format: str, *args: Any) -> None:  # quiet: errors are reported as they happen
        pass

    # -- whole-request deadlines: the socket timeout is per read, so a client dripping a byte at a
    # time would hold its slot for ever; a timer ends the reading side when the time is up. --------
    def handle_one_request(self) -> None:
        self._arm(self.header_deadline)  # from waiting for the request line to having the headers
        try:
            super().handle_one_request()
        finally:
            self._disarm()

    def _arm(self, seconds: float) -> None:
        self._disarm()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expire(self) -> None:
        try:  # reads end (EOF); the answer can still be written
            self.connection.shutdown(socket.SHUT_RD)
        except OSError:
            pass

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own errors (bad request line, unsupported method) as JSON too."""
        if getattr(self, "request_version", "HTTP/0.9") == "HTTP/0.9":
            self.request_version = "HTTP/1.0"  # an unparsed request line: still answer with a status line
        self._json(code, {"error": message or HTTPStatus(code).phrase}, close=True)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    # -- plumbing ---------------------------------------------------------------------------
    def _dispatch(self, method: str) -> None:
        self._disarm()  # the headers are in; a body gets its own deadline in _body
        try:
            self._check_origin(method)
            url = urlsplit(self.path)
            parts = [unquote(p) for p in url.path.split("/") if p]
            self._route(method, parts, parse_qs(url.query))
        except RequestError as err:
            self._json(err.status, {"error": str(err)}, close=err.status in (411, 413))
        except SonicMotionError as err:
            self._json(400, {"error": str(err)})
        except (BrokenPipeError, ConnectionResetError):
            pass
        except ImportError as err:  # an optional package missing (a library prompt needs [ml])
            from sonicmotion.optional import missing_extra

            refusal = missing_extra(err, "this")
            if refusal is not None:
                self._json(400, {"error": str(refusal)})
            else:
                traceback.print_exc(file=sys.stderr)
                self._json(500, {"error": f"internal error ({type(err).__name__}); see the studio's terminal"})
        except Exception as err:  # a bug: one line to the page, the traceback to the terminal only
            traceback.print_exc(file=sys.stderr)
            self._json(500, {"error": f"internal error ({type(err).__name__}); see the studio's terminal"})

    def _check_origin(self, method: str) -> None:
        host = self.headers.get("Host", "")
        if host not in self.studio.allowed_hosts():
            raise RequestError(403, f"Host {host!r} is not this studio; open {self.studio.url} (or start it "
                               "with --allow-host NAME for the name you typed)")
        origin = self.headers.get("Origin")
        if method != "GET" and origin is not None and urlsplit(origin).netloc != host:
            raise RequestError(403, f"requests from {origin!r} are not allowed")

    def _route(self, method: str, parts: list[str], query: dict[str, list[str]]) -> None:
        ws = self.studio.workspace
        if method == "GET" and parts in ([], ["index.html"]):
            return self._static("index.html")
        if method == "GET" and len(parts) == 2 and parts[0] == "static":
            return self._static(parts[1])
        if parts[:1] != ["api"]:
            raise RequestError(404, f"no such page {self.path!r}")
        route = parts[1:]
        if method == "GET" and route == ["state"]:
            return self._json(200, {
                "version": __version__, "workspace": str(ws.root), "model": ws.has_model, "library": ws.library_info(),
                "uploads": ws.upload_names(), "upload_seconds": ws.upload_seconds(), "scene": ws.saved_scene(),
                "result": ws.manifest(),
                "max_upload_bytes": self.studio.max_upload_bytes,
            })
        if method == "POST" and route == ["upload"]:
            name = (query.get("name") or [""])[0]
            data = self._body(self.studio.max_upload_bytes, "upload")
            return self._json(201, ws.save_upload(name, data))
        if method == "POST" and route == ["motion"]:
            return self._json(200, ws.describe_motion(self._json_body()))
        if method == "POST" and route == ["render"]:
            scene = ws.parse_scene(self._json_body())
            return self._json(202, {"job": ws.start_render(scene).id})
        if len(route) >= 2 and route[0] == "jobs":
            job = ws.job(route[1])
            if method == "GET" and len(route) == 2:
                return self._json(200, job.as_dict())
            if method == "POST" and route[2:] == ["cancel"]:
                self._body(MAX_JSON_BYTES, "request", required=False)
                job.cancel.set()
                return self._json(202, job.as_dict())
        if method == "GET" and len(route) == 2 and route[0] == "result":
            path = ws.result_file(route[1])
            return self._file(path, download=self._wants_download(query))
        if method not in ("GET", "POST"):
            raise RequestError(405, f"{method} is not supported")
        raise RequestError(404, f"no such API call {method} {self.path!r}")

    @staticmethod
    def _wants_download(query: dict[str, list[str]]) -> bool:
        return (query.get("download") or ["0"])[0] == "1"

    def _body(self, limit: int, what: str, required: bool = True) -> bytes:
        length = self.headers.get("Content-Length")
        if length is None:
            if self.headers.get("Transfer-Encoding"):
                raise RequestError(411, "send a Content-Length (chunked bodies are not accepted)")
            if required:
                raise RequestError(411, f"the {what} needs a Content-Length header")
            return b""
        try:
            size = int(length)
        except ValueError:
            raise RequestError(400, f"Content-Length {length!r} is not a number") from None
        if size < 0:
            raise RequestError(400, "Content-Length must not be negative")
        if size > limit:
            if size <= MAX_DRAIN_BYTES:  # read it so the client sees our answer; a huge claim is not waited for
                self._arm(self.timeout)
                try:
                    self._drain(size)
                except TimeoutError:
                    pass
                finally:
                    self._disarm()
            raise RequestError(413, f"the {what} is {size / 1e6:.1f} MB; the limit is {limit / 1e6:.1f} MB")
        self._arm(self.timeout)  # the whole body within the timeout, not each read
        try:
            data = self.rfile.read(size)
        except TimeoutError:
            data = b""
        finally:
            self._disarm()
        if len(data) != size:
            self.close_connection = True
            raise RequestError(400, f"the {what} stalled or ended after {len(data)} of {size} bytes (a whole body "
                               f"must arrive within {self.timeout:g} s)")
        return data

    def _drain(self, size: int) -> None:
        """Read a refused body (up to 64 MB) so the client sees our answer, not a reset."""
        remaining = min(size, MAX_DRAIN_BYTES)
        while remaining > 0:
            chunk = self.rfile.read(min(remaining, 1 << 16))
            if not chunk:
                break
            remaining -= len(chunk)

    def _json_body(self) -> Any:
        data = self._body(MAX_JSON_BYTES, "request")
        try:
            value = json.loads(data.decode("utf-8"))
        except RecursionError:
            raise RequestError(400, f"the request body nests deeper than {MAX_JSON_DEPTH} levels") from None
        except UnicodeDecodeError:
            raise RequestError(400, "the request body is not UTF-8 text") from None
        except json.JSONDecodeError as err:
            raise RequestError(400, f"the request body is not valid JSON: {err.msg} at line {err.lineno} "
                               f"column {err.colno}") from None
        except ValueError as err:  # an integer of more digits than Python converts (4,300)
            raise RequestError(400, f"the request body holds a number too long to read ({err})") from None
        if _depth(value) > MAX_JSON_DEPTH:
            raise RequestError(400, f"the request body nests deeper than {MAX_JSON_DEPTH} levels")
        return value

    def _json(self, status: int, payload: Any, close: bool = False) -> None:
        body = json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self._security_headers()
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _security_headers(self) -> None:
        # Everything is served from here: no scripts, styles or fonts from anywhere else.
        self.send_header("Content-Security-Policy", "default-src 'self'; img-src 'self' data: blob:; "
                         "media-src 'self' blob:; object-src 'none'; frame-ancestors 'none'")
        self.send_header("X-Content-Type-Options", "nosniff")

    def _static(self, name: str) -> None:
        if name not in STATIC_FILES:
            raise RequestError(404, f"no static file {name!r}")
        data = resources.files("sonicmotion.studio").joinpath("static", name).read_bytes()
        self._send_bytes(data, STATIC_FILES[name])

    def _file(self, path: Path, download: bool) -> None:
        """A result file; a ``Range: bytes=...`` request gets that part (206), which
        browsers need to seek in audio."""
        data = path.read_bytes()
        content_type = FILE_TYPES.get(path.suffix.lower(), "application/octet-stream")
        disposition = f'attachment; filename="{path.name}"' if download else None
        wanted = byte_range(self.headers.get("Range"), len(data))
        if wanted == "unsatisfiable":
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{len(data)}")
            self.send_header("Content-Length", "0")
            self._security_headers()
            self.end_headers()
            return
        if wanted is None:
            return self._send_bytes(data, content_type, disposition, ranges=True)
        start, end = wanted
        self._send_bytes(data[start : end + 1], content_type, disposition, ranges=True,
                         content_range=f"bytes {start}-{end}/{len(data)}")

    def _send_bytes(self, data: bytes, content_type: str, disposition: str | None = None, ranges: bool = False,
                    content_range: str | None = None) -> None:
        self.send_response(206 if content_range else 200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        if ranges:
            self.send_header("Accept-Ranges", "bytes")
        if content_range:
            self.send_header("Content-Range", content_range)
        if disposition:
            self.send_header("Content-Disposition", disposition)
        self._security_headers()
        self.end_headers()
        self.wfile.write(data)
