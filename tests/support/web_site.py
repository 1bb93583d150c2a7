"""A local fixture web site on 127.0.0.1 for the web collector's tests and benchmark.

Every page exercises one thing a capture must get right: redirect chains and loops, gzip and
chunked bodies, lazy images, an iframe, a 404, a POST fetch, a 50 MB body, a page that never
finishes loading, and requests to a second loopback address (127.0.0.2) that a test policy
refuses. ``SiteServer.bodies`` holds the exact bytes served per path, so tests can compare
what the WARC and the replay hold byte for byte; ``hits`` counts requests per path.
"""

from __future__ import annotations

import gzip
import io
import ipaddress
import math
import random
import ssl
import struct
import threading
import wave
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from PIL import Image

from kernel.errors import PolicyError
from kernel.netpolicy import NetworkPolicy

BIG_SIZE = 50 * 1024 * 1024
STALL_PREFIX = b"\x89PNG\r\n\x1a\n" + b"\0" * 1016  # what the stalled image sends before it hangs


@cache
def noise_png(seed: int, size: int = 160) -> bytes:
    """A PNG of random pixels: incompressible, so well above the media threshold."""
    rnd = random.Random(seed)
    image = Image.frombytes("RGB", (size, size), rnd.randbytes(size * size * 3))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


@cache
def tiny_png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (4, 4), (200, 30, 30)).save(out, "PNG")
    return out.getvalue()


@cache
def tone_wav() -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(
            b"".join(struct.pack("<h", int(8000 * math.sin(i / 9))) for i in range(12000))
        )
    return out.getvalue()


STYLE = b"body { font-family: sans-serif; background: #fafaf5; } .note { color: #336; }\n" * 20
APP_JS = b"""
document.getElementById('status').textContent = 'script ran';
fetch('/api/echo', {method: 'POST', headers: {'Content-Type': 'application/json'},
                    body: JSON.stringify({question: 'who', answer: 42})})
  .then(r => r.text()).then(t => { document.getElementById('echo').textContent = t; });
"""
LAZY_JS = b"""
const io = new IntersectionObserver(entries => {
  for (const e of entries) if (e.isIntersecting) { e.target.src = e.target.dataset.src; io.unobserve(e.target); }
});
document.querySelectorAll('img[data-src]').forEach(img => io.observe(img));
"""
CP1251_JS = "var greeting = 'Привет, мир';\n".encode("cp1251")


def index_html(private_port: int) -> bytes:
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Fixture index</title>
<link rel="stylesheet" href="/static/style.css"></head>
<body>
<h1>Witness fixture</h1>
<p class="note">Statement of the day: the fixture site is up.</p>
<p id="status">script not run</p><p id="echo"></p>
<img src="/img/photo.png" alt="photo"> <img src="/img/photo-copy.png" alt="same photo">
<img src="/img/icon.png" alt="icon"> <img src="/img/missing.png" alt="missing">
<audio src="/media/tone.wav" preload="auto"></audio>
<iframe src="/frame.html" width="300" height="200"></iframe>
<script src="/static/app.js"></script>
<script src="/static/cp1251.js" charset="windows-1251"></script>
<div style="height: 2600px"></div>
<img src="/img/lazy.png" loading="lazy" alt="lazy native">
<img data-src="/img/lazy-js.png" alt="lazy script" width="160" height="160">
<script src="/static/lazy.js"></script>
<p>End of page. Port {private_port} elsewhere.</p>
</body></html>""".encode()


def page_html(n: int) -> bytes:
    paragraphs = "".join(f"<p>Paragraph {i} of page {n}: testimony text.</p>" for i in range(8))
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>Page {n}</title>
<link rel="stylesheet" href="/static/style.css"></head>
<body><h1>Page {n}</h1>{paragraphs}<img src="/img/page-{n % 5}.png" alt="p">
<a href="/pages/{(n + 1) % 50}.html">next</a></body></html>""".encode()


@dataclass
class SiteServer:
    """The running site: ``url(path)`` and the second address ``private_url(path)``."""

    server: ThreadingHTTPServer
    private: ThreadingHTTPServer
    stop_event: threading.Event
    hits: Counter = field(default_factory=Counter)
    private_hits: Counter = field(default_factory=Counter)
    posts: list[bytes] = field(default_factory=list)
    bodies: dict[str, bytes] = field(default_factory=dict)
    scheme: str = "http"

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    def url(self, path: str = "/") -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}{path}"

    def private_url(self, path: str = "/") -> str:
        return f"http://127.0.0.2:{self.private.server_address[1]}{path}"

    def close(self) -> None:
        self.stop_event.set()
        for srv in (self.server, self.private):
            srv.shutdown()
            srv.server_close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    site: SiteServer

    def log_message(self, format: str, *args: object) -> None:  # quiet tests
        pass

    def _send(
        self,
        code: int,
        body: bytes,
        ctype: str = "text/html; charset=utf-8",
        headers: tuple[tuple[str, str], ...] = (),
    ) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _redirect(self, code: int, location: str) -> None:
        self._send(
            code, f"<a href='{location}'>moved</a>".encode(), headers=(("Location", location),)
        )

    def _chunked(self, parts: list[bytes], ctype: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for part in parts:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")

    def do_GET(self) -> None:
        site = self.site
        path = self.path.split("?", 1)[0]
        site.hits[path] += 1
        static = site.bodies.get(path)
        if path == "/":
            self._send(200, site.bodies["/"])
        elif path == "/static/style.css":  # gzip on the wire
            self._send(200, gzip.compress(STYLE), "text/css", (("Content-Encoding", "gzip"),))
        elif path == "/static/app.js":  # chunked on the wire
            self._chunked([APP_JS[:60], APP_JS[60:]], "application/javascript")
        elif path == "/static/cp1251.js":
            self._send(200, CP1251_JS, "application/javascript; charset=windows-1251")
        elif path == "/static/lazy.js":
            self._send(200, LAZY_JS, "application/javascript")
        elif path == "/frame.html":
            self._send(200, b"<!doctype html><p>Inside the frame</p><img src='/img/frame.png'>")
        elif path.startswith("/img/") and static is not None:
            self._send(200, static, "image/png")
        elif path == "/media/tone.wav":
            self._send(200, static or b"", "audio/wav")
        elif path == "/redirect/start":
            self._redirect(302, "/redirect/middle")
        elif path == "/redirect/middle":
            self._redirect(301, "/simple.html")
        elif path == "/simple.html":
            self._send(200, b"<!doctype html><title>Simple</title><p>Arrived after redirects.</p>")
        elif path == "/gone.html":  # a page that has been taken down: the answer is evidence
            self._send(404, "<!doctype html><title>Gone</title><p>Страница удалена</p>".encode())
        elif path == "/down.html":
            self._send(503, b"<!doctype html><p>maintenance</p>")
        elif path == "/loop/a":
            self._redirect(302, "/loop/b")
        elif path == "/loop/b":
            self._redirect(302, "/loop/a")
        elif path == "/big.html":
            self._send(
                200,
                b"<!doctype html><p id=s>big</p><script>fetch('/big.bin').then(r => r.arrayBuffer())"
                b".then(b => document.getElementById('s').textContent = 'got ' + b.byteLength)"
                b".catch(e => document.getElementById('s').textContent = 'failed')</script>",
            )
        elif path == "/big.bin":
            self._big()
        elif path == "/hang.html":
            self._send(
                200,
                b"<!doctype html><title>Never done</title><p>Visible text</p>"
                b"<img src='/img/stall.png'>",
            )
        elif path == "/img/stall.png":
            self._stall()
        elif path == "/private.html":
            target = site.private_url("/secret.png")
            hop = site.url("/redirect/to-private")
            self._send(
                200,
                f"<!doctype html><p>Public part</p><img src='{target}'><img src='{hop}'>".encode(),
            )
        elif path == "/redirect/to-private":
            self._redirect(302, site.private_url("/via-redirect.png"))
        elif path == "/cookie.html":  # sets a cookie: a fresh context must not send it again
            self._send(
                200,
                b"<!doctype html><p>cookie set</p><img src='/img/icon.png'>",
                headers=(("Set-Cookie", "session=witness-1; Path=/"),),
            )
        elif path.startswith("/pages/"):
            try:
                n = int(path.removeprefix("/pages/").removesuffix(".html"))
            except ValueError:
                n = -1
            if 0 <= n < 50:
                self._send(200, page_html(n))
            else:
                self._send(404, b"no such page")
        else:
            self._send(404, b"<!doctype html><p>not found</p>")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        self.site.hits[self.path] += 1
        self.site.posts.append(body)
        if self.path == "/api/echo":
            self._send(200, b"echo:" + body, "text/plain; charset=utf-8")
        else:
            self._send(404, b"")

    def _big(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(BIG_SIZE))
        self.end_headers()
        block = bytes(range(256)) * 256
        try:
            for _ in range(BIG_SIZE // len(block)):
                if self.site.stop_event.is_set():
                    return
                self.wfile.write(block)
        except OSError:  # the client gave up: what the size limit does
            return

    def _stall(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", "100000")
        self.end_headers()
        try:
            self.wfile.write(STALL_PREFIX)
            self.wfile.flush()
        except OSError:
            return
        self.site.stop_event.wait(120)  # never finishes while the test runs
        self.close_connection = True


class _PrivateHandler(BaseHTTPRequestHandler):
    """The address the test policy refuses: any hit here is a policy failure."""

    protocol_version = "HTTP/1.1"
    site: SiteServer

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.site.private_hits[self.path] += 1
        body = noise_png(99)
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def _self_signed(directory: Path) -> tuple[Path, Path]:
    """A throwaway certificate for 127.0.0.1, so the TLS facts of a capture can be tested."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "witnessbox fixture")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=7))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def start_site(tls_dir: Path | None = None) -> SiteServer:
    """Start both servers on free ports; call ``close()`` when done.

    With ``tls_dir`` the main site speaks HTTPS with a fresh self-signed certificate
    (written into that directory) and ``url()`` returns https URLs.
    """
    stop = threading.Event()
    handler = type("Handler", (_Handler,), {})
    private_handler = type("PrivateHandler", (_PrivateHandler,), {})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    if tls_dir is not None:
        cert, key = _self_signed(tls_dir)
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(cert, key)
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    private = ThreadingHTTPServer(("127.0.0.2", 0), private_handler)
    for srv in (server, private):
        srv.daemon_threads = True
    site = SiteServer(
        server=server,
        private=private,
        stop_event=stop,
        scheme="https" if tls_dir is not None else "http",
    )
    handler.site = site
    private_handler.site = site
    site.bodies.update({
        "/": index_html(private.server_address[1]),
        "/img/photo.png": noise_png(1),
        "/img/photo-copy.png": noise_png(1),  # identical payload: a revisit record
        "/img/icon.png": tiny_png(),
        "/img/frame.png": noise_png(2),
        "/img/lazy.png": noise_png(3),
        "/img/lazy-js.png": noise_png(4),
        "/static/style.css": STYLE,
        "/static/app.js": APP_JS,
        "/static/lazy.js": LAZY_JS,
        "/static/cp1251.js": CP1251_JS,
        "/media/tone.wav": tone_wav(),
        **{f"/img/page-{i}.png": noise_png(10 + i, 96) for i in range(5)},
    })  # fmt: skip
    for srv in (server, private):
        threading.Thread(target=srv.serve_forever, daemon=True, name="fixture-site").start()
    return site


@dataclass(frozen=True)
class RefusingPolicy(NetworkPolicy):
    """A policy that allows loopback (the fixture site) but refuses the listed hosts.

    The tests need 127.0.0.1 reachable and a *second* address refused, which the default
    policy cannot express: this subclass refuses ``refused`` hosts (or addresses) exactly as
    ``NetworkPolicy`` refuses private ones, with a ``PolicyError``.
    """

    refused: frozenset[str] = frozenset()

    def check_host(self, host: str, port: int | None = None) -> list[str]:
        name = host.lower().strip("[]")
        if name in self.refused:
            raise PolicyError(f"refused: {host} is on the test refusal list (network policy)")
        addresses = super().check_host(host, port)
        for address in addresses:
            if address in self.refused:
                raise PolicyError(f"refused: {host} resolves to {address} (network policy)")
        return addresses
