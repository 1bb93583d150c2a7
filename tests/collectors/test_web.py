"""The web collector against the local fixture site, with the real Chromium.

One browser serves the whole module (as it does for ``witnessbox run``); every capture gets a
fresh context. Every WARC must pass ``warcio check`` and every WACZ ``wacz validate`` (the
CLIs from the venv).
"""

from __future__ import annotations

import base64
import contextlib
import io
import itertools
import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from warcio.timeutils import iso_date_to_timestamp

from collectors.base import CollectContext, CollectedCapture, SourceRef
from collectors.formats.warc import WarcRecordView, iter_records
from collectors.registry import settings_view
from collectors.web.collector import WebCollector
from kernel.errors import PolicyError
from kernel.netpolicy import NetworkPolicy
from kernel.settings import Settings
from tests.support.web_site import (
    APP_JS,
    CP1251_JS,
    STALL_PREFIX,
    STYLE,
    RefusingPolicy,
    SiteServer,
    start_site,
)

BIN = Path(sys.executable).parent
PYWB_BIN = BIN.parent / "pywb" / "bin"  # its own venv (make venv): it pins redis-py 2.10
_ids = itertools.count()


@dataclass
class Captured:
    result: CollectedCapture
    staging: Path

    @property
    def warc(self) -> Path:
        return self.staging / "capture.warc.gz"

    def records(self) -> list[WarcRecordView]:
        return list(iter_records(self.warc))

    def record(self, kind: str, url: str) -> WarcRecordView:
        found = [r for r in self.records() if r.type == kind and r.uri == url]
        assert found, f"no {kind} record for {url}"
        return found[0]

    def page_info(self) -> dict:
        return json.loads((self.staging / "page-info.json").read_text())

    def roles(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for artifact in self.result.artifacts:
            out.setdefault(artifact.role, []).append(artifact.name)
        return out


def assert_archives_valid(captured: Captured) -> None:
    check = subprocess.run(
        [BIN / "warcio", "check", "-v", captured.warc], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert "digest pass" in check.stdout and "fail" not in check.stdout.lower()
    assert_wacz_valid(captured.staging / "capture.wacz")


def assert_wacz_valid(path: Path) -> None:
    """``wacz validate -f PATH``: the CLI's own entry point, in-process (its imports take seconds)."""
    from wacz.main import main as wacz_main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = wacz_main(["validate", "-f", str(path)])
    assert code == 0, out.getvalue()
    assert "Validation succeeded" in out.getvalue()


@pytest.fixture(scope="module")
def site() -> SiteServer:
    server = start_site()
    yield server
    server.close()


@pytest.fixture(scope="module")
def collector() -> WebCollector:
    with WebCollector() as web:
        yield web


@pytest.fixture(scope="module")
def capture(collector: WebCollector, tmp_path_factory: pytest.TempPathFactory):
    base = tmp_path_factory.mktemp("web")

    def run(url: str, policy: NetworkPolicy | None = None, **options: object) -> Captured:
        n = next(_ids)
        staging = base / f"staging-{n}"
        staging.mkdir()
        ctx = CollectContext(
            settings=settings_view(collector, Settings(home=base / "home")),
            policy=policy or NetworkPolicy(allow_private=True),
            staging=staging,
            capture_id=f"capture-{n}",
        )
        result = collector.collect(
            SourceRef(id="src-web", kind="web", url=url, options=options), ctx
        )
        return Captured(result, staging)

    return run


@pytest.fixture(scope="module")
def index(site: SiteServer, capture) -> Captured:
    return capture(site.url("/"))


# -- the rich index page ---------------------------------------------------------------------
def test_index_is_complete_with_every_artifact_role(index: Captured) -> None:
    assert index.result.status == "complete", index.result.reasons
    roles = index.roles()
    assert roles["warc"] == ["capture.warc.gz"] and roles["wacz"] == ["capture.wacz"]
    for role in ("screenshot", "dom", "text", "page-info"):
        assert len(roles[role]) == 1
    assert set(index.result.tools) >= {"playwright", "chromium", "warcio", "wacz"}
    assert all(index.result.tools[name] for name in ("playwright", "chromium", "warcio", "wacz"))
    assert (index.staging / "screenshot.png").read_bytes().startswith(b"\x89PNG")
    assert_archives_valid(index)
    assert not list(index.staging.glob(".web-*")), "temporary body spools must be removed"


def test_every_exchange_has_request_and_response_linked(index: Captured, site: SiteServer) -> None:
    records = index.records()
    assert records[0].type == "warcinfo"
    responses = {r.record_id: r for r in records if r.type in ("response", "revisit")}
    requests = [r for r in records if r.type == "request"]
    assert len(requests) == len(responses) >= 15
    for request in requests:
        assert request.headers["WARC-Concurrent-To"] in responses
        assert request.headers["WARC-IP-Address"] == "127.0.0.1"
    for response in responses.values():
        assert response.headers["WARC-IP-Address"] == "127.0.0.1"
        assert response.headers["WARC-Block-Digest"].startswith("sha256:")
        assert response.headers["WARC-Payload-Digest"].startswith("sha256:")
    urls = {r.uri for r in responses.values()}
    for path in ("/", "/frame.html", "/img/frame.png", "/img/lazy.png", "/img/lazy-js.png",
                 "/static/lazy.js", "/media/tone.wav", "/api/echo"):  # fmt: skip
        assert site.url(path) in urls, path


def test_gzip_and_chunked_bodies_are_decoded_with_original_headers_kept(
    index: Captured, site: SiteServer
) -> None:
    css = index.record("response", site.url("/static/style.css"))
    assert css.payload == STYLE
    assert css.http_header("X-Archive-Orig-Content-Encoding") == "gzip"
    assert css.http_header("Content-Encoding") is None
    assert css.http_header("Content-Length") == str(len(STYLE))
    js = index.record("response", site.url("/static/app.js"))
    assert js.payload == APP_JS
    assert js.http_header("X-Archive-Orig-Transfer-Encoding") == "chunked"
    assert js.http_header("Transfer-Encoding") is None
    renamed = index.page_info()["decoded_bodies"]["renamed_headers"]
    assert {"content-encoding", "transfer-encoding"} <= set(renamed)


def test_non_utf8_text_keeps_its_exact_bytes(index: Captured, site: SiteServer) -> None:
    assert index.record("response", site.url("/static/cp1251.js")).payload == CP1251_JS


def test_404_post_and_iframe_are_recorded(index: Captured, site: SiteServer) -> None:
    missing = index.record("response", site.url("/img/missing.png"))
    assert missing.http_status == 404
    post = index.record("request", site.url("/api/echo"))
    assert post.http_headers and post.payload == site.posts[0]
    assert json.loads(post.payload) == {"question": "who", "answer": 42}
    echo = index.record("response", site.url("/api/echo"))
    assert echo.payload == b"echo:" + site.posts[0]
    dom = (index.staging / "dom.html").read_text()
    assert "script ran" in dom and "echo:" in dom
    assert "Statement of the day" in (index.staging / "text.txt").read_text()
    frame = index.record("response", site.url("/frame.html"))
    assert b"Inside the frame" in frame.payload


def test_identical_payload_becomes_a_revisit(index: Captured, site: SiteServer) -> None:
    original = index.record("response", site.url("/img/photo.png"))
    revisit = index.record("revisit", site.url("/img/photo-copy.png"))
    assert original.payload == site.bodies["/img/photo.png"]
    assert revisit.headers["WARC-Refers-To"] == original.record_id
    assert revisit.headers["WARC-Refers-To-Target-URI"] == original.uri
    assert revisit.headers["WARC-Payload-Digest"] == original.headers["WARC-Payload-Digest"]
    assert revisit.headers["WARC-Profile"].endswith("/revisit/identical-payload-digest")


def test_snapshots_and_page_info_are_resource_and_metadata_records(
    index: Captured, site: SiteServer
) -> None:
    records = index.records()
    page = site.url("/")
    main = index.record("response", page)
    resources = {r.uri: r for r in records if r.type == "resource"}
    assert set(resources) == {f"urn:view:{page}", f"urn:dom:{page}", f"urn:text:{page}"}
    assert resources[f"urn:view:{page}"].payload == (index.staging / "screenshot.png").read_bytes()
    assert resources[f"urn:dom:{page}"].payload == (index.staging / "dom.html").read_bytes()
    for record in resources.values():
        assert record.headers["WARC-Concurrent-To"] == main.record_id
    metadata = [r for r in records if r.type == "metadata"]
    assert (
        len(metadata) == 1
        and metadata[0].payload == (index.staging / "page-info.json").read_bytes()
    )
    info = index.page_info()
    assert info["viewport"] == {"width": 1366, "height": 900}
    assert "Chrome/" in info["user_agent"] and "Headless" not in info["user_agent"]
    assert info["final_url"] == page and info["load_event"] and info["network_idle"]
    assert info["timings"]["started"] <= info["timings"]["finished"]
    origin = f"http://127.0.0.1:{site.port}"
    assert info["remote_addresses"] == {origin: f"127.0.0.1:{site.port}"}
    assert any(m["url"] == site.url("/img/missing.png") for m in info["exchanges"])


def test_media_become_artifacts_linked_to_their_records(index: Captured, site: SiteServer) -> None:
    media = [a for a in index.result.artifacts if a.role == "media"]
    by_url = {a.platform["url"]: a for a in media}
    expected = {
        "/img/photo.png",
        "/img/frame.png",
        "/img/lazy.png",
        "/img/lazy-js.png",
        "/media/tone.wav",
    }
    assert set(by_url) == {site.url(p) for p in expected}  # not the tiny icon, not the revisit
    records = {r.record_id: r for r in index.records()}
    for path in expected:
        artifact = by_url[site.url(path)]
        assert (index.staging / artifact.name).read_bytes() == site.bodies[path]
        assert records[artifact.platform["warc_record_id"]].uri == site.url(path)
        assert artifact.platform["page_url"] == site.url("/")
        assert artifact.derived_from == "capture.warc.gz"
    assert by_url[site.url("/media/tone.wav")].media_type == "audio/wav"


# -- redirects ---------------------------------------------------------------------------------
def test_redirect_chain_records_every_hop(site: SiteServer, capture) -> None:
    captured = capture(site.url("/redirect/start"))
    assert captured.result.status == "complete", captured.result.reasons
    first = captured.record("response", site.url("/redirect/start"))
    second = captured.record("response", site.url("/redirect/middle"))
    assert (first.http_status, first.http_header("Location")) == (302, "/redirect/middle")
    assert (second.http_status, second.http_header("Location")) == (301, "/simple.html")
    assert b"Arrived" in captured.record("response", site.url("/simple.html")).payload
    info = captured.page_info()
    assert [h["status"] for h in info["redirect_chain"]] == [302, 301, 200]
    assert info["final_url"] == site.url("/simple.html")
    assert captured.result.platform["final_url"] == site.url("/simple.html")
    assert_archives_valid(captured)


def test_redirect_loop_fails_but_keeps_the_evidence(site: SiteServer, capture) -> None:
    captured = capture(site.url("/loop/a"))
    assert captured.result.status == "failed"
    assert "ERR_TOO_MANY_REDIRECTS" in captured.result.reasons[0]
    loop = [r for r in captured.records() if r.type in ("response", "revisit")]
    assert len(loop) >= 10 and {r.http_status for r in loop} == {302}
    assert {r.http_header("Location") for r in loop} == {"/loop/a", "/loop/b"}
    assert captured.roles()["page-info"] == ["page-info.json"]
    assert_archives_valid(captured)


@pytest.mark.parametrize(
    ("path", "reason"), [("/gone.html", "http-404: Not Found"), ("/down.html", "http-503: ")]
)
def test_http_error_answer_is_kept_but_failed(site: SiteServer, capture, path, reason) -> None:
    captured = capture(site.url(path))
    assert captured.result.status == "failed"
    assert captured.result.reasons[0].startswith(reason)
    assert captured.result.platform["http_status"] == int(reason[5:8])
    roles = captured.roles()
    assert {"warc", "wacz", "screenshot", "dom", "text", "page-info"} <= set(roles)
    assert captured.page_info()["status"] == "failed"
    assert_archives_valid(captured)


# -- limits --------------------------------------------------------------------------------------
def test_response_over_the_size_limit_is_truncated(site: SiteServer, capture) -> None:
    limit = 3 * 1024 * 1024
    captured = capture(site.url("/big.html"), max_response_bytes=limit)
    assert captured.result.status == "partial"
    assert any("truncated" in r for r in captured.result.reasons)
    big = captured.record("response", site.url("/big.bin"))
    assert big.headers["WARC-Truncated"] == "length"
    assert len(big.payload) == limit
    assert big.payload[:512] == bytes(range(256)) * 2
    assert big.http_header("X-Archive-Orig-Content-Length") == str(50 * 1024 * 1024)
    assert any(n["url"] == site.url("/big.bin") for n in captured.page_info()["not_captured"])
    assert_archives_valid(captured)


def test_page_that_never_finishes_loading_is_partial(site: SiteServer, capture) -> None:
    captured = capture(site.url("/hang.html"), load_timeout_s=2, idle_max_s=1)
    result = captured.result
    assert result.status == "partial"
    assert any("did not finish loading" in r for r in result.reasons)
    assert any("not idle" in r for r in result.reasons)
    stalled = captured.record("response", site.url("/img/stall.png"))
    assert stalled.headers["WARC-Truncated"] == "time"
    assert STALL_PREFIX.startswith(stalled.payload)  # whatever arrived, nothing invented
    assert "Visible text" in (captured.staging / "text.txt").read_text()
    assert (captured.staging / "screenshot.png").stat().st_size > 0
    info = captured.page_info()
    assert info["load_event"] is False and site.url("/img/stall.png") in info["inflight_at_end"]
    assert_archives_valid(captured)


# -- network policy --------------------------------------------------------------------------------
def test_private_address_requests_are_refused_and_recorded(site: SiteServer, capture) -> None:
    policy = RefusingPolicy(allow_private=True, refused=frozenset({"127.0.0.2"}))
    captured = capture(site.url("/private.html"), policy=policy)
    assert captured.result.status == "partial"
    assert any("refused by the network policy" in r for r in captured.result.reasons)
    assert not site.private_hits, "a refused address was contacted"
    refused = captured.result.network["refused"]
    assert {r["url"] for r in refused} == {
        site.private_url("/secret.png"),
        site.private_url("/via-redirect.png"),
    }
    assert [r["redirect_hop"] for r in refused if "via-redirect" in r["url"]] == [True]
    assert all("127.0.0.2" in r["reason"] for r in refused)
    hop = captured.record("response", site.url("/redirect/to-private"))
    assert hop.http_status == 302
    assert not [r for r in captured.records() if "127.0.0.2" in r.uri]
    assert captured.page_info()["refused"] == refused
    assert_archives_valid(captured)


def test_refused_source_url_raises_before_the_browser_runs(
    site: SiteServer, tmp_path: Path
) -> None:
    web = WebCollector(executable="/nonexistent/chromium")  # never started: the policy comes first
    ctx = CollectContext(settings=Settings(home=tmp_path), policy=NetworkPolicy(), staging=tmp_path,
                         capture_id="c")  # fmt: skip
    with pytest.raises(PolicyError, match="loopback"):
        web.collect(SourceRef(id="s", kind="web", url=site.url("/")), ctx)
    assert web._host is None


# -- isolation, TLS, PDF ----------------------------------------------------------------------------
def test_each_capture_has_a_fresh_context(site: SiteServer, capture) -> None:
    first = capture(site.url("/cookie.html"))
    second = capture(site.url("/cookie.html"))
    page = first.record("response", site.url("/cookie.html"))
    assert "session=witness-1" in (page.http_header("Set-Cookie") or "")
    icon = first.record("request", site.url("/img/icon.png"))
    assert icon.http_header("Cookie") == "session=witness-1"  # the raw request headers are kept
    # the second capture's first request carries no cookie from the first capture
    assert second.record("request", site.url("/cookie.html")).http_header("Cookie") is None
    assert_archives_valid(first)
    assert_archives_valid(second)


def test_tls_facts_and_certificate_chain(tmp_path: Path, capture) -> None:
    tls_site = start_site(tls_dir=tmp_path)
    try:
        captured = capture(tls_site.url("/simple.html"))
    finally:
        tls_site.close()
    assert captured.result.status == "complete", captured.result.reasons
    origin = f"https://127.0.0.1:{tls_site.port}"
    tls = captured.result.network["tls"][origin]
    assert tls["protocol"].startswith("TLS") and tls["subjectName"] == "witnessbox fixture"
    assert tls["certificate_chain_der_base64"], "the certificate chain is recorded"
    cert = x509.load_der_x509_certificate(base64.b64decode(tls["certificate_chain_der_base64"][0]))
    pem = (tmp_path / "cert.pem").read_bytes()
    assert cert == x509.load_pem_x509_certificate(pem)
    assert captured.page_info()["tls"][origin]["cipher"]
    assert captured.record("response", tls_site.url("/simple.html")).headers.get(
        "WARC-Cipher-Suite"
    )
    assert_archives_valid(captured)


def test_pdf_option_adds_a_pdf_resource(site: SiteServer, capture) -> None:
    captured = capture(site.url("/simple.html"), pdf=True)
    assert captured.roles()["pdf"] == ["page.pdf"]
    pdf = (captured.staging / "page.pdf").read_bytes()
    assert pdf.startswith(b"%PDF")
    assert captured.record("resource", f"urn:pdf:{site.url('/simple.html')}").payload == pdf
    assert_archives_valid(captured)


# -- replay ---------------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def pywb(index: Captured, tmp_path: Path):
    """pywb's ``wayback`` on a free port, serving the index capture's WACZ as collection 'witness'."""
    if not (PYWB_BIN / "wb-manager").is_file():
        pytest.fail("pywb is not installed: `make venv` puts it in .venv/pywb", pytrace=False)
    root = tmp_path / "pywb"
    root.mkdir()
    for args in (
        ["init", "witness"],
        ["add", "--unpack-wacz", "witness", str(index.staging / "capture.wacz")],
    ):
        done = subprocess.run([PYWB_BIN / "wb-manager", *args], cwd=root, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
    port = _free_port()
    proc = subprocess.Popen([PYWB_BIN / "wayback", "-p", str(port), "-b", "127.0.0.1", "-t", "4"], cwd=root,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(base + "/", timeout=2).close()
                break
            except OSError:
                assert proc.poll() is None, "wayback exited"
                assert time.monotonic() < deadline, "wayback did not start"
                time.sleep(0.2)
        yield base + "/witness"
    finally:
        proc.terminate()
        proc.wait(10)


def test_pywb_replays_the_wacz_byte_for_byte(index: Captured, site: SiteServer, pywb: str) -> None:
    date = index.record("response", site.url("/")).headers["WARC-Date"]
    stamp = iso_date_to_timestamp(date)

    def replay(path: str, data: bytes | None = None) -> bytes:
        url = f"{pywb}/{stamp}id_/{site.url(path)}"
        request = urllib.request.Request(
            url, data=data, method="POST" if data is not None else "GET"
        )
        if data is not None:
            request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.read()

    assert replay("/") == site.bodies["/"]
    assert replay("/static/style.css") == STYLE  # gzip on the wire, decoded in the archive
    assert replay("/static/app.js") == APP_JS  # chunked on the wire
    assert replay("/static/cp1251.js") == CP1251_JS
    assert replay("/img/photo.png") == site.bodies["/img/photo.png"]
    assert replay("/img/photo-copy.png") == site.bodies["/img/photo.png"]  # the revisit resolves
    assert replay("/img/lazy-js.png") == site.bodies["/img/lazy-js.png"]
    assert replay("/api/echo", data=site.posts[0]) == b"echo:" + site.posts[0]
    with pytest.raises(urllib.error.HTTPError) as missing:
        replay("/img/never-captured.png")
    assert missing.value.code == 404
