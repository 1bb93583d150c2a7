"""Record every network exchange of one page through the Chrome DevTools Protocol.

Why CDP and not Playwright's response API: ``response.body()`` (``Network.getResponseBody``)
re-encodes text bodies as UTF-8 (a windows-1251 script comes back with other bytes), loses
bodies evicted from the inspector's buffer, never sees redirect hops' interception, and does
not see requests made by workers. The ``Fetch`` domain pauses every request of the page's
renderer (frames and workers included, redirect hops included) twice:

* at the *request* stage, where the network policy decides (``PolicyGate``): refused
  requests are failed inside the browser and recorded;
* at the *response* stage, where ``Fetch.getResponseBody`` returns the exact bytes after
  content decoding, before the page sees them. Bodies declared larger than the per-response
  limit are read up to the limit from a stream and the request is then aborted (truncated,
  ``WARC-Truncated: length``).

The ``Network`` domain adds what Fetch does not know: the address and protocol the browser
used, TLS details, the raw request headers (cookies included) and timing, and tells the
recorder when the network is idle. Nothing here writes WARC: ``finish`` hands back ``Hop``
objects whose bodies live in temporary files.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import tempfile
import time
from pathlib import Path
from typing import Any

from collectors.web.gate import PolicyGate
from collectors.web.hops import (
    Hop,
    Limits,
    NetHop,
    apply_raw_response,
    header_int,
    headers_list,
    request_body,
)

log = logging.getLogger("witnessbox.web.recorder")
SPOOL_IN_MEMORY = 2 << 20
STREAM_READ = 1 << 20


class NetworkRecorder:
    def __init__(self, cdp: Any, gate: PolicyGate, limits: Limits, work_dir: Path) -> None:
        self.cdp = cdp
        self.gate = gate
        self.limits = limits
        self.work_dir = work_dir
        self.hops: list[Hop] = []
        self._by_fetch: dict[str, Hop] = {}  # Fetch request id -> hop (request stage onwards)
        self._chains: dict[str, list[Hop]] = {}  # network id -> hops in order
        self._net: dict[str, list[NetHop]] = {}  # network id -> Network's view of the hops
        self._req_extra: dict[str, list[list[tuple[str, str]]]] = {}
        self._resp_extra: dict[str, list[dict[str, Any]]] = {}
        self._inflight: dict[str, str] = {}  # network id -> url
        self._tasks: set[asyncio.Task] = set()
        self.stored_bytes = 0
        self.capture_limit_hit = False
        self.last_activity = time.monotonic()
        self.websockets: list[str] = []
        self.security: dict[str, dict[str, Any]] = {}  # origin -> securityDetails
        self.closed = False
        self._seq = 0
        self.requests_seen = 0  # requests that reached the request stage

    # -- set-up ---------------------------------------------------------------------------------
    async def start(self) -> None:
        on = self.cdp.on
        on("Fetch.requestPaused", self._spawn(self._on_paused))
        on("Network.requestWillBeSent", self._on_request)
        on("Network.requestWillBeSentExtraInfo", self._on_request_extra)
        on("Network.responseReceived", self._on_response)
        on("Network.responseReceivedExtraInfo", self._on_response_extra)
        on("Network.loadingFinished", self._on_done)
        on("Network.loadingFailed", self._on_failed)
        on("Network.requestServedFromCache", self._on_cached)
        on("Network.dataReceived", self._touch)
        on("Network.webSocketCreated", self._on_websocket)
        patterns = [
            {"urlPattern": "*", "requestStage": "Request"},
            {"urlPattern": "*", "requestStage": "Response"},
        ]
        await asyncio.gather(
            self.cdp.send("Network.enable", {"maxPostDataSize": 1 << 20}),
            self.cdp.send("Fetch.enable", {"patterns": patterns}),
        )

    def _spawn(self, handler: Any) -> Any:
        def listener(params: dict[str, Any]) -> None:
            if self.closed:
                return
            task = asyncio.get_running_loop().create_task(handler(params))
            self._tasks.add(task)
            task.add_done_callback(self._task_done)

        return listener

    def _task_done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("recorder handler failed: %r", task.exception())

    def _touch(self, _params: Any = None) -> None:
        self.last_activity = time.monotonic()

    async def send_quiet(self, method: str, params: dict[str, Any]) -> Any:
        """A CDP call whose failure (page gone, request cancelled) is not an error here."""
        try:
            return await self.cdp.send(method, params)
        except Exception as exc:  # Playwright raises its own Error subclasses
            log.debug("%s failed: %s", method, exc)
            return None

    # -- Fetch: policy and bodies ---------------------------------------------------------------
    async def _on_paused(self, p: dict[str, Any]) -> None:
        self._touch()
        if "responseStatusCode" in p or "responseErrorReason" in p:
            await self._on_response_stage(p)
        else:
            await self._on_request_stage(p)

    async def _on_request_stage(self, p: dict[str, Any]) -> None:
        request = p["request"]
        key = p.get("networkId") or p["requestId"]
        redirect = bool(self._chains.get(key))
        self._seq += 1
        self.requests_seen += 1
        hop = Hop(
            key=key,
            seq=self._seq,
            url=request["url"],
            method=request.get("method", "GET"),
            resource_type=p.get("resourceType", ""),
            started=time.time(),
            request_headers=headers_list(request.get("headers")),
            post_data=request_body(request),
        )
        if hop.post_data is None and request.get("hasPostData"):
            got = await self.send_quiet("Network.getRequestPostData", {"requestId": key})
            if got and got.get("postData") is not None:
                data = got["postData"]
                hop.post_data = (
                    base64.b64decode(data) if got.get("base64Encoded") else data.encode()
                )
        self.hops.append(hop)
        self._chains.setdefault(key, []).append(hop)
        reason = await self.gate.check(hop.url)
        if reason is not None:
            hop.blocked = reason
            hop.done = True
            self.gate.refuse(hop.url, reason, hop.resource_type, redirect)
            await self.send_quiet(
                "Fetch.failRequest", {"requestId": p["requestId"], "errorReason": "BlockedByClient"}
            )
            self._inflight.pop(key, None)
            return
        self._by_fetch[p["requestId"]] = hop
        self._inflight[key] = hop.url
        await self.send_quiet("Fetch.continueRequest", {"requestId": p["requestId"]})

    def _find_hop(self, p: dict[str, Any]) -> Hop:
        hop = self._by_fetch.pop(p["requestId"], None)
        if hop is not None:
            return hop
        # a response stage for a request paused under another id: find it by chain and URL
        key = p.get("networkId") or p["requestId"]
        for candidate in reversed(self._chains.get(key, [])):
            if candidate.url == p["request"]["url"] and candidate.status is None:
                return candidate
        self._seq += 1
        hop = Hop(
            key=key,
            seq=self._seq,
            url=p["request"]["url"],
            method=p["request"].get("method", "GET"),
            resource_type=p.get("resourceType", ""),
            started=time.time(),
            request_headers=headers_list(p["request"].get("headers")),
            post_data=request_body(p["request"]),
        )
        self.hops.append(hop)
        self._chains.setdefault(key, []).append(hop)
        return hop

    async def _on_response_stage(self, p: dict[str, Any]) -> None:
        fetch_id = p["requestId"]
        hop = self._find_hop(p)
        if "responseErrorReason" in p:
            hop.error = p["responseErrorReason"]
            hop.done = True
            await self.send_quiet("Fetch.continueRequest", {"requestId": fetch_id})
            return
        hop.status = int(p["responseStatusCode"])
        hop.status_text = p.get("responseStatusText") or ""
        hop.response_headers = headers_list(p.get("responseHeaders") or [])
        if hop.is_redirect or hop.method == "HEAD" or hop.status in (204, 304):
            hop.done = True
            await self.send_quiet("Fetch.continueRequest", {"requestId": fetch_id})
            return
        budget = self.limits.max_capture_bytes - self.stored_bytes
        if budget <= 0:
            self.capture_limit_hit = True
            hop.truncated = "length"
            hop.notes.append("not stored: the capture size limit was reached")
            hop.done = True
            await self.send_quiet("Fetch.continueRequest", {"requestId": fetch_id})
            return
        limit = min(self.limits.max_response_bytes, budget)
        declared = header_int(hop.header("content-length"))
        if declared is not None and declared > limit:
            await self._read_prefix(hop, fetch_id, limit)
        else:
            await self._read_whole(hop, fetch_id, limit)
        hop.done = True
        self._inflight.pop(hop.key, None)  # captured: what the page does with it is not network
        self._touch()

    async def _read_whole(self, hop: Hop, fetch_id: str, limit: int) -> None:
        got = await self.send_quiet("Fetch.getResponseBody", {"requestId": fetch_id})
        if got is None:
            hop.truncated = "unspecified"
            hop.notes.append("the browser did not hand over the body")
        else:
            data = (
                base64.b64decode(got["body"]) if got.get("base64Encoded") else got["body"].encode()
            )
            if len(data) > limit:
                data = data[:limit]
                hop.truncated = "length"
                hop.notes.append(f"body cut at the {limit}-byte limit")
                self.capture_limit_hit |= limit < self.limits.max_response_bytes
            self._store(hop, data)
        await self.send_quiet("Fetch.continueRequest", {"requestId": fetch_id})

    async def _read_prefix(self, hop: Hop, fetch_id: str, limit: int) -> None:
        """Keep the first ``limit`` bytes of an over-limit body, then abort the download."""
        handle = await self.send_quiet("Fetch.takeResponseBodyAsStream", {"requestId": fetch_id})
        kept = bytearray()
        if handle is not None:
            stream = handle["stream"]
            while len(kept) < limit:
                chunk = await self.send_quiet(
                    "IO.read", {"handle": stream, "size": min(STREAM_READ, limit - len(kept))}
                )
                if not chunk:
                    break
                data = chunk.get("data", "")
                kept += base64.b64decode(data) if chunk.get("base64Encoded") else data.encode()
                self._touch()
                if chunk.get("eof"):
                    break
            await self.send_quiet("IO.close", {"handle": stream})
        del kept[limit:]
        self._store(hop, bytes(kept))
        hop.truncated = "length"
        hop.notes.append(
            f"declared {hop.header('content-length')} bytes, over the {limit}-byte limit: "
            f"kept the first {len(kept)} bytes and stopped the download"
        )
        if limit < self.limits.max_response_bytes:
            self.capture_limit_hit = True
        await self.send_quiet(
            "Fetch.failRequest", {"requestId": fetch_id, "errorReason": "Aborted"}
        )

    def _store(self, hop: Hop, data: bytes) -> None:
        spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY, dir=self.work_dir)
        spool.write(data)
        spool.seek(0)
        hop.body = spool
        hop.body_size = len(data)
        self.stored_bytes += len(data)

    # -- Network: addresses, TLS, raw headers, idleness -----------------------------------------
    def _on_request(self, p: dict[str, Any]) -> None:
        self._touch()
        key = p["requestId"]
        hops = self._net.setdefault(key, [])
        if p.get("redirectResponse") and hops:
            hops[-1].response = p["redirectResponse"]
            self._note_security(p["redirectResponse"])
        hops.append(NetHop(url=p["request"]["url"]))

    def _on_request_extra(self, p: dict[str, Any]) -> None:
        self._req_extra.setdefault(p["requestId"], []).append(headers_list(p.get("headers")))

    def _on_response_extra(self, p: dict[str, Any]) -> None:
        self._resp_extra.setdefault(p["requestId"], []).append(p)

    def _on_response(self, p: dict[str, Any]) -> None:
        self._touch()
        hops = self._net.get(p["requestId"])
        if hops:
            hops[-1].response = p["response"]
        self._note_security(p["response"])

    def _note_security(self, response: dict[str, Any]) -> None:
        details = response.get("securityDetails")
        url = response.get("url", "")
        if details and url.startswith("https://"):
            origin = "/".join(url.split("/")[:3])
            self.security.setdefault(origin, details)

    def _on_done(self, p: dict[str, Any]) -> None:
        self._touch()
        self._inflight.pop(p["requestId"], None)

    def _on_failed(self, p: dict[str, Any]) -> None:
        self._touch()
        key = p["requestId"]
        self._inflight.pop(key, None)
        for hop in reversed(self._chains.get(key, [])):
            if not hop.blocked and hop.status is None and hop.error is None:
                hop.error = p.get("errorText") or "failed"
                hop.done = True
            break

    def _on_cached(self, p: dict[str, Any]) -> None:
        for hop in self._chains.get(p["requestId"], [])[-1:]:
            hop.from_cache = True

    def _on_websocket(self, p: dict[str, Any]) -> None:
        self._touch()
        self.websockets.append(p.get("url", ""))

    # -- the page driver's view -------------------------------------------------------------------
    @property
    def inflight(self) -> list[str]:
        return list(self._inflight.values())

    async def wait_idle(self, quiet_s: float, max_s: float) -> bool:
        """True once no request is in flight and nothing happened for ``quiet_s``."""
        deadline = time.monotonic() + max_s
        while True:
            now = time.monotonic()
            quiet_for = now - self.last_activity
            if not self._inflight and quiet_for >= quiet_s:
                return True
            if now >= deadline:
                return False
            wait = quiet_s - quiet_for if not self._inflight else 0.05
            await asyncio.sleep(max(0.01, min(wait, deadline - now)))

    async def finish(self) -> list[Hop]:
        """Stop recording and merge what the Network domain knew into the hops."""
        self.closed = True
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        for hop in self.hops:
            if hop.done or hop.blocked:
                continue
            if hop.status is None:
                hop.error = hop.error or "no response before the capture ended"
            else:
                hop.truncated = "time"
                hop.notes.append("the body was still loading when the capture ended")
        self._merge_network()
        return sorted(self.hops, key=lambda h: h.seq)

    def _merge_network(self) -> None:
        for key, hops in self._chains.items():
            net = list(self._net.get(key, []))
            extras = list(self._req_extra.get(key, []))
            wire = [h for h in hops if not h.blocked]
            if len(extras) == len(wire):
                for hop, headers in zip(wire, extras, strict=True):
                    hop.raw_request_headers = headers
            answered = [h for h in wire if h.status is not None]
            pending = list(self._resp_extra.get(key, []))
            for hop in answered:  # in order; an extra info event must agree on the status
                while pending and pending[0].get("statusCode") not in (None, hop.status):
                    pending.pop(0)
                if not pending:
                    break
                apply_raw_response(hop, pending.pop(0))
            for hop in hops:
                match = next((i for i, n in enumerate(net) if n.url == hop.url), None)
                if match is None:
                    continue
                entry = net.pop(match)
                del net[:match]
                response = entry.response or {}
                if response:
                    hop.remote_ip = (response.get("remoteIPAddress") or "").strip("[]") or None
                    hop.remote_port = response.get("remotePort")
                    hop.protocol = response.get("protocol")
                    hop.security = response.get("securityDetails")
                    hop.from_cache = hop.from_cache or bool(
                        response.get("fromDiskCache") or response.get("fromPrefetchCache")
                    )
