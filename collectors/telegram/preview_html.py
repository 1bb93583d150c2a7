"""Parse one page of the public channel preview (``https://t.me/s/<name>``).

The page lists posts oldest first as ``div.tgme_widget_message[data-post="name/ID"]``, with
the text in ``.tgme_widget_message_text``, the time in ``time[datetime]``, views in
``.tgme_widget_message_views``, photos as ``background-image:url(...)`` on
``.tgme_widget_message_photo_wrap`` and videos as ``video.tgme_widget_message_video[src]``;
``a.tme_messages_more[data-before]`` links to older posts. The channel header gives title,
description, counters and photo. Standard-library ``html.parser`` only: the markup is
untrusted, and nothing in it is executed or used as a path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit

_BG_URL = re.compile(r"background-image\s*:\s*url\(\s*['\"]?([^'\")]+)['\"]?\s*\)")
_POST_URL = re.compile(r"/([A-Za-z][A-Za-z0-9_]{3,31})/(\d+)(?:[/?#]|$)")
_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
         "track", "wbr"}  # fmt: skip


@dataclass
class PreviewPost:
    id: int
    channel: str
    date: str | None = None
    edited: bool = False
    text: str = ""
    links: list[str] = field(default_factory=list)
    views_raw: str | None = None
    post_author: str | None = None
    fwd_from: dict[str, Any] | None = None
    reply_to: dict[str, Any] | None = None
    media: list[dict[str, Any]] = field(default_factory=list)
    album: bool = False
    service: bool = False
    unsupported: bool = False

    @property
    def views(self) -> int | None:
        return parse_count(self.views_raw)


@dataclass
class PreviewPage:
    posts: list[PreviewPost] = field(default_factory=list)
    before: int | None = None  # id for ``?before=`` to reach older posts
    channel: dict[str, Any] = field(default_factory=dict)


def parse_count(text: str | None) -> int | None:
    """``"1.2K"`` → 1200: the preview rounds counters, so the raw text is kept too."""
    if not text:
        return None
    match = re.fullmatch(r"\s*([\d.,]+)\s*([KMB]?)\s*", text, re.IGNORECASE)
    if not match:
        return None
    number = float(match.group(1).replace(",", "")) if match.group(1) != "." else 0.0
    scale = {"": 1, "K": 1_000, "M": 1_000_000, "B": 1_000_000_000}[match.group(2).upper()]
    return round(number * scale)


def post_id_from_url(url: str | None) -> tuple[str, int] | None:
    if not url:
        return None
    match = _POST_URL.search(urlsplit(url).path + "/")
    return (match.group(1).lower(), int(match.group(2))) if match else None


@dataclass
class _Open:
    tag: str
    classes: frozenset[str]
    role: str | None = None


class _Parser(HTMLParser):
    def __init__(self, base_url: str) -> None:
        super().__init__(convert_charrefs=True)
        self.base = base_url
        self.page = PreviewPage()
        self.stack: list[_Open] = []
        self.post: PreviewPost | None = None
        self.text_parts: list[str] = []
        self.capture: dict[str, list[str]] = {}  # role -> text pieces being collected

    # -- helpers ------------------------------------------------------------------------------
    def roles(self) -> set[str]:
        return {o.role for o in self.stack if o.role}

    def url(self, value: str | None) -> str | None:
        return urljoin(self.base, value.strip()) if value else None

    def start_capture(self, role: str) -> str:
        self.capture[role] = []
        return role

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: (v or "") for k, v in attrs}
        classes = frozenset(a.get("class", "").split())
        role = self.open_role(tag, a, classes)
        if tag == "br" and "text" in self.roles() and not {"reply", "fwd"} & self.roles():
            self.capture.setdefault("text", []).append("\n")
        if tag not in _VOID:
            self.stack.append(_Open(tag, classes, role))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in _VOID:
            return
        for depth in range(len(self.stack) - 1, -1, -1):
            if self.stack[depth].tag == tag:
                for closed in reversed(self.stack[depth:]):
                    self.close_role(closed.role)
                del self.stack[depth:]
                return

    def handle_data(self, data: str) -> None:
        for role in self.capture:
            if role == "text" and {"reply", "fwd"} & self.roles():
                continue
            self.capture[role].append(data)

    # -- roles --------------------------------------------------------------------------------
    def open_role(self, tag: str, a: dict[str, str], classes: frozenset[str]) -> str | None:
        if "tme_messages_more" in classes and a.get("data-before", "").isdigit():
            self.page.before = int(a["data-before"])
        if "tgme_widget_message" in classes and a.get("data-post"):
            name, _, number = a["data-post"].rpartition("/")
            if number.isdigit():
                self.post = PreviewPost(int(number), name.lower())
                self.post.service = "service_message" in classes
                return "post"
        if self.post is None:
            return self.channel_role(tag, a, classes)
        post = self.post
        if "tgme_widget_message_reply" in classes:
            post.reply_to = {"url": self.url(a.get("href"))}
            found = post_id_from_url(a.get("href"))
            if found:
                post.reply_to.update(channel=found[0], msg_id=found[1])
            return "reply"
        if "tgme_widget_message_forwarded_from" in classes:
            post.fwd_from = post.fwd_from or {}
            return "fwd"
        if "tgme_widget_message_forwarded_from_name" in classes:
            post.fwd_from = post.fwd_from or {}
            post.fwd_from["url"] = self.url(a.get("href"))
            found = post_id_from_url(a.get("href"))
            if found:
                post.fwd_from.update(channel=found[0], channel_post=found[1])
            return self.start_capture("fwd_name")
        if "reply" in self.roles() or "fwd" in self.roles():
            return None
        if "tgme_widget_message_text" in classes and "text" not in self.roles():
            return self.start_capture("text")
        if tag == "a" and "text" in self.roles() and a.get("href"):
            post.links.append(self.url(a["href"]) or "")
        if "tgme_widget_message_link_preview" in classes and a.get("href"):
            post.links.append(self.url(a["href"]) or "")
        if "tgme_widget_message_grouped_wrap" in classes:
            post.album = True
        if "tgme_widget_message_photo_wrap" in classes:
            match = _BG_URL.search(a.get("style", ""))
            if match:
                self.add_media("photo", self.url(match.group(1)), a.get("href"))
        if tag == "video" and a.get("src"):
            self.add_media("video", self.url(a["src"]), None)
        if tag == "audio" and a.get("src"):
            self.add_media("voice", self.url(a["src"]), None)
        if "tgme_widget_message_edited" in classes:
            post.edited = True
        if "message_media_not_supported" in classes:
            post.unsupported = True
        if "tgme_widget_message_views" in classes:
            return self.start_capture("views")
        if "tgme_widget_message_from_author" in classes:
            return self.start_capture("author")
        if "tgme_widget_message_meta" in classes:
            return self.start_capture("meta")
        if tag == "time" and a.get("datetime") and post.date is None:
            post.date = a["datetime"]
        return None

    def add_media(self, kind: str, url: str | None, href: str | None) -> None:
        assert self.post is not None
        if not url or url.startswith("data:"):
            return
        item: dict[str, Any] = {"kind": kind, "url": url}
        found = post_id_from_url(href)
        if found:
            item["message_id"] = found[1]
        self.post.media.append(item)

    def channel_role(self, tag: str, a: dict[str, str], classes: frozenset[str]) -> str | None:
        info = self.page.channel
        if "tgme_channel_info_header_title" in classes:
            return self.start_capture("title")
        if "tgme_channel_info_header_username" in classes:
            return self.start_capture("username")
        if "tgme_channel_info_description" in classes:
            return self.start_capture("about")
        if "tgme_channel_info_counter" in classes:
            return self.start_capture("counter")
        if tag == "img" and "photo" in " ".join(self.stack[-1].classes if self.stack else ()):
            info.setdefault("photo_url", self.url(a.get("src")))
        if tag == "br" and "about" in self.capture:
            self.capture["about"].append("\n")
        return None

    def close_role(self, role: str | None) -> None:
        if role is None:
            return
        if role == "post":
            if self.post is not None:
                self.post.text = self.post.text.strip()
                self.post.links = list(dict.fromkeys(u for u in self.post.links if u))
                self.page.posts.append(self.post)
            self.post = None
            self.capture.clear()
            return
        pieces = self.capture.pop(role, None)
        if pieces is None:
            return
        text = "".join(pieces)
        post, info = self.post, self.page.channel
        if role == "text" and post is not None:
            post.text = text
        elif role == "views" and post is not None:
            post.views_raw = text.strip() or None
        elif role == "author" and post is not None:
            post.post_author = text.strip() or None
        elif role == "meta" and post is not None:
            own = text.replace(post.post_author or "\0", "")
            post.edited = post.edited or "edited" in own.lower()
        elif role == "fwd_name" and post is not None and post.fwd_from is not None:
            post.fwd_from["name"] = text.strip()
        elif role == "title":
            info["title"] = text.strip()
        elif role == "username":
            info["username"] = text.strip().lstrip("@")
        elif role == "about":
            info["about"] = text.strip()
        elif role == "counter":
            value, _, kind = text.strip().partition(" ")
            info.setdefault("counters", {})[kind.strip() or "count"] = value
            if kind.strip() in ("subscribers", "members", "subscriber", "member"):
                info["participants_count"] = parse_count(value)


def parse_preview_page(html: str, base_url: str) -> PreviewPage:
    parser = _Parser(base_url)
    parser.feed(html)
    parser.close()
    page = parser.page
    page.posts.sort(key=lambda p: p.id)
    return page
