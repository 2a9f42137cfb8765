"""`munit app`: a local web page to play with a trained model.

Upload an image, pick the direction, get a grid of random-style translations (with their seed), upload a
reference to copy its style, and drag a slider between two random styles. Served by Python's own
threading HTTP server: no web framework to install, nothing fetched from the network, and every check on
what comes in is here. Uploads are held in memory only (nothing is written to disk); each one is limited
in bytes, pixels and image format, and refused with a one-line message otherwise.
"""

from __future__ import annotations

import base64
import io
import json
import threading
import time
import warnings
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.resources import files

import torch
from PIL import Image

from munit.api import Translator
from munit.data.images import DataError
from munit.errors import UsageError, UserError

FORMATS = {"PNG", "JPEG", "WEBP", "BMP", "GIF", "TIFF"}
MAX_UPLOAD_BYTES = 8 * 2 ** 20  # One request body (two base64 images fit).
MAX_PIXELS = 16_000_000  # Per image, checked from the header before decoding.
MAX_STYLES = 16
MAX_REQUESTS = 16  # POSTs handled at once; more get 503 at once instead of a thread each.
DRAIN_BYTES = 64 * 2 ** 20  # Of an oversized upload, read and dropped before its 413.
TIMEOUT_S = 30  # Seconds a connection may stall (e.g. an upload that never finishes).
STEPS = 9  # Images along the style slider.
SLIDER_LIMIT = 5.0  # Largest magnitude of an attribute slider value (Fader): beyond, outputs saturate.


class UploadError(ValueError):
    """An upload that the page refuses (too big, not an image, wrong type): a 4xx with a message."""

    def __init__(self, message: str, status: HTTPStatus = HTTPStatus.BAD_REQUEST):
        super().__init__(message)
        self.status = status


def decode_image(data: str, what: str, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """A base64 image from the page, checked: known format, at most `max_pixels`, decodable."""
    try:
        raw = base64.b64decode(data, validate=True)
    except (ValueError, TypeError):
        raise UploadError(f"{what}: not base64 data") from None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(raw))
            if img.format not in FORMATS:
                raise UploadError(f"{what}: {img.format} images are not accepted; use one of "
                                  f"{', '.join(sorted(FORMATS))}", HTTPStatus.UNSUPPORTED_MEDIA_TYPE)
            if img.width * img.height > max_pixels:
                raise UploadError(f"{what}: {img.width}x{img.height} pixels is more than the {max_pixels:,} "
                                  "allowed", HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
            img.load()
    except UploadError:
        raise
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise UploadError(f"{what}: too many pixels", HTTPStatus.REQUEST_ENTITY_TOO_LARGE) from None
    except Exception:  # PIL raises many kinds for broken files.
        raise UploadError(f"{what}: not a readable image", HTTPStatus.UNSUPPORTED_MEDIA_TYPE) from None
    return img  # Converted to the domain's channels as every other path does (munit.data.images.to_mode).


def data_url(img: Image.Image) -> str:
    buffer = io.BytesIO()
    img.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _field(request: dict, name: str) -> str:
    value = request.get(name)
    if not isinstance(value, str) or not value:
        raise UploadError(f"{name}: missing; expected a base64-encoded image")
    return value


class App:
    """The page's actions on one model; safe to call from several threads."""

    def __init__(self, translator: Translator, max_pixels: int = MAX_PIXELS):
        self.t, self.max_pixels = translator, max_pixels
        self.lock = threading.Lock()  # One translation at a time: the model's threads are the machine's.

    def info(self) -> dict:
        m = self.t.method
        return {"method": m.name, "directions": list(m.directions), "multimodal": m.multimodal,
                "reference_guided": m.reference_guided, "iteration": self.t.model.iteration,
                "attributes": list(m.domains) if hasattr(m, "edit") else []}

    def _checked(self, image: Image.Image, domain: str) -> Image.Image:
        """The image, if its size after the method's resizing is within bounds (checked before resizing)."""
        try:
            self.t.method.inference_size(*image.size, domain)
        except DataError as e:
            raise UploadError(str(e), HTTPStatus.REQUEST_ENTITY_TOO_LARGE) from None
        return image

    def handle(self, action: str, request: dict) -> dict:
        try:
            direction = self.t.method.direction(request.get("direction", self.t.method.directions[0]))
        except UsageError as e:
            raise UploadError(str(e)) from None
        image = self._checked(decode_image(_field(request, "image"), "image", self.max_pixels), direction.source)
        seed = _int(request.get("seed", 0), "seed", 0, 2 ** 31 - 1)
        reference = None
        if action == "edit":
            sliders = _attributes(request.get("attributes"), self.t)
        if action == "reference":  # Decoded and checked before the lock, which only the networks need.
            reference = self._checked(decode_image(_field(request, "reference"), "reference", self.max_pixels),
                                      direction.target)
        with self.lock:
            if action == "translate":
                n = _int(request.get("num_styles", 6), "num_styles", 1, MAX_STYLES)
                if not self.t.method.multimodal:
                    return {"images": [data_url(self.t.translate(image, direction))], "seed": seed}
                outputs = self.t.translate(image, direction, num_styles=n, seed=seed)
                return {"images": [data_url(o) for o in outputs], "seed": seed}
            if action == "reference":
                if not self.t.method.reference_guided:
                    raise UploadError(f"method {self.t.method.name!r} cannot copy a reference's style")
                return {"images": [data_url(self.t.translate(image, direction, style=reference))]}
            if action == "edit":
                return {"images": [data_url(self.t.edit(image, sliders))]}
            if action == "interpolate":
                if not self.t.method.multimodal:
                    raise UploadError(f"method {self.t.method.name!r} has no style to interpolate")
                gen = torch.Generator().manual_seed(seed)
                codes = self.t.method.styles(self.t.nets, 2, self.t.device, gen, domain=direction.target).flatten(1)
                outputs = self.t.interpolate(image, codes[0], codes[1], STEPS, direction)
                return {"images": [data_url(o) for o in outputs], "seed": seed}
        raise UploadError(f"unknown action {action!r}", HTTPStatus.NOT_FOUND)


def _attributes(value, translator: Translator) -> dict[str, float]:
    """Slider values by attribute name, each a number in [-SLIDER_LIMIT, SLIDER_LIMIT]."""
    if not hasattr(translator.method, "edit"):
        raise UploadError(f"method {translator.method.name!r} has no attribute sliders")
    names = translator.method.domains
    if not isinstance(value, dict) or not all(k in names for k in value):
        raise UploadError(f"attributes must map some of {', '.join(names)} to numbers, got {_describe(value)}")
    out = {}
    for name, number in value.items():
        if isinstance(number, bool) or not isinstance(number, (int, float)) or not abs(number) <= SLIDER_LIMIT:
            raise UploadError(f"attribute {name} must be a number between {-SLIDER_LIMIT} and {SLIDER_LIMIT}, "
                              f"got {_describe(number)}")
        out[name] = float(number)
    return out


def _int(value, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise UploadError(f"{name} must be an integer, got {_describe(value)}")
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):  # "abc", Infinity, NaN.
        raise UploadError(f"{name} must be an integer, got {_describe(value)}") from None
    if number != value and not isinstance(value, str):
        raise UploadError(f"{name} must be an integer, got {_describe(value)}")
    if not low <= number <= high:
        raise UploadError(f"{name} must be between {low} and {high}, got {number}")
    return number


def _describe(value) -> str:
    text = json.dumps(value) if not isinstance(value, float) else repr(value)
    return text if len(text) <= 40 else text[:40] + "..."


def make_handler(app: App, max_bytes: int = MAX_UPLOAD_BYTES, allowed_hosts: set[str] | None = None,
                 timeout_s: float = TIMEOUT_S) -> type[BaseHTTPRequestHandler]:
    """`allowed_hosts`: host names accepted in the Host header, with the served port (None accepts any,
    for a server bound to every interface). Together with the Origin check this keeps other web pages,
    and DNS rebinding, from using a page served on the loopback address."""
    page = files("munit").joinpath("app.html").read_bytes()

    slots = threading.BoundedSemaphore(MAX_REQUESTS)

    class Handler(BaseHTTPRequestHandler):
        server_version = "munit-app"
        timeout = timeout_s  # A stalled upload frees its thread after this long.

        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            problem = self._foreign_host()
            if problem:
                self._json(HTTPStatus.FORBIDDEN, {"error": problem})
            elif self.path in ("/", "/index.html"):
                self._send(HTTPStatus.OK, page, "text/html; charset=utf-8")
            elif self.path == "/api/info":
                self._json(HTTPStatus.OK, app.info())
            else:
                self._json(HTTPStatus.NOT_FOUND, {"error": f"no page {self.path}"})

        def do_POST(self) -> None:  # noqa: N802
            if not slots.acquire(blocking=False):
                self.close_connection = True
                self._json(HTTPStatus.SERVICE_UNAVAILABLE, {"error": "too many requests at once; try again"})
                return
            try:
                self._json(HTTPStatus.OK, app.handle(self.path[len("/api/"):], self._request()))
            except UploadError as e:
                self.close_connection = True  # The body may be unread; do not reuse the connection.
                self._json(e.status, {"error": str(e)})
            except TimeoutError:
                self.close_connection = True
                self._json(HTTPStatus.REQUEST_TIMEOUT, {"error": f"the request body did not arrive within "
                                                               f"{timeout_s} s"})
            except UserError as e:  # What the command line says of the same input (e.g. a photo for labels).
                self._json(HTTPStatus.BAD_REQUEST, {"error": str(e)})
            except Exception as e:  # A bug: still one answer per request, and the server goes on.
                self.close_connection = True
                self._json(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": f"internal error: {type(e).__name__}"})
            finally:
                slots.release()

        def _request(self) -> dict:
            """The JSON body of a same-origin POST to /api/..., checked before it is read."""
            if not self.path.startswith("/api/"):
                raise UploadError(f"no action {self.path}", HTTPStatus.NOT_FOUND)
            problem = self._foreign_host()
            if problem:
                raise UploadError(problem, HTTPStatus.FORBIDDEN)
            host = self.headers.get("Host", "")
            origin = self.headers.get("Origin")
            if origin is not None and origin.lower() != f"http://{host.lower()}":
                raise UploadError(f"requests from {origin!r} are not accepted (other sites may not use this page)",
                                  HTTPStatus.FORBIDDEN)
            kind = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
            if kind != "application/json":
                raise UploadError(f"Content-Type must be application/json, got {kind or 'none'!r}",
                                  HTTPStatus.UNSUPPORTED_MEDIA_TYPE)
            text = self.headers.get("Content-Length")
            if text is None:
                raise UploadError("the request has no Content-Length", HTTPStatus.LENGTH_REQUIRED)
            if not text.strip().isdigit():
                raise UploadError(f"Content-Length must be a number of bytes, got {text[:20]!r}")
            length = int(text)
            if length > max_bytes:
                self._drain(length)
                raise UploadError(f"upload of {length:,} bytes is more than the {max_bytes:,} allowed",
                                  HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
            try:
                request = json.loads(self._body(length))
            except ValueError as e:
                if "integer string conversion" in str(e):  # Python's limit on the digits of an int.
                    raise UploadError("the request holds a number of more than 4,300 digits") from None
                raise UploadError("the request body is not JSON") from None
            except (UnicodeDecodeError, RecursionError):
                raise UploadError("the request body is not JSON") from None
            if not isinstance(request, dict):
                raise UploadError("the request body must be a JSON object")
            return request

        def _foreign_host(self) -> str | None:
            """Why the Host header is not this server's address (DNS rebinding), or None."""
            host, port = self.headers.get("Host", ""), self.server.server_address[1]
            if allowed_hosts is not None and host.lower() not in {f"{h}:{port}" for h in allowed_hosts} | (
                    allowed_hosts if port == 80 else set()):
                return f"Host {host!r} is not this server's address"
            return None

        def _body(self, length: int) -> bytes:
            """The request body, read as it arrives within `timeout_s` in all (the socket's timeout is per
            read: a body trickled a byte at a time held its thread, and a slot, for ever)."""
            deadline, parts, left = time.monotonic() + timeout_s, [], length
            while left:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError
                self.connection.settimeout(remaining)
                chunk = self.rfile.read1(min(left, 1 << 16))
                if not chunk:
                    raise UploadError(f"the request body ended after {length - left:,} of {length:,} bytes")
                parts.append(chunk)
                left -= len(chunk)
            return b"".join(parts)

        def _drain(self, length: int) -> None:
            """Read and drop an oversized body (up to DRAIN_BYTES, within the timeout, until a second passes
            without data) so that its client, still sending, gets the 413 instead of a broken pipe."""
            deadline, left = time.monotonic() + timeout_s, min(length, DRAIN_BYTES)
            try:
                while left and time.monotonic() < deadline:
                    self.connection.settimeout(min(max(deadline - time.monotonic(), 0.01), 1.0))
                    chunk = self.rfile.read1(min(left, 1 << 16))
                    if not chunk:
                        break
                    left -= len(chunk)
            except OSError:  # Timed out or gone: answer anyway.
                pass

        def _json(self, status: HTTPStatus, payload: dict) -> None:
            self._send(status, json.dumps(payload).encode(), "application/json")

        def _send(self, status: HTTPStatus, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("X-Content-Type-Options", "nosniff")
            try:
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):  # The client left; nobody to answer.
                self.close_connection = True

        def log_message(self, format: str, *args) -> None:  # noqa: A002 (http.server's signature)
            pass  # Quiet: the terminal shows the address, not every request.

    return Handler


def make_server(translator: Translator, host: str = "127.0.0.1", port: int = 7860,
                max_bytes: int = MAX_UPLOAD_BYTES, max_pixels: int = MAX_PIXELS,
                timeout_s: float = TIMEOUT_S) -> ThreadingHTTPServer:
    hosts = None
    if host not in ("", "0.0.0.0", "::"):
        hosts = {host.lower()}
        if host in ("127.0.0.1", "localhost", "::1"):
            hosts |= {"127.0.0.1", "localhost", "[::1]"}
    server = _Server((host, port), make_handler(App(translator, max_pixels), max_bytes, hosts, timeout_s))
    server.daemon_threads = True
    return server


class _Server(ThreadingHTTPServer):
    request_queue_size = 128  # Connections waiting to be accepted: with 5, a burst of 50 got resets.
