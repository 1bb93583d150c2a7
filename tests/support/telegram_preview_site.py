"""A local stand-in for Telegram's public channel preview (``https://t.me/s/<name>``).

Serves pages shaped like the real preview (same classes, ``data-post`` ids, oldest post at
the top, ``a.tme_messages_more[data-before]`` for older posts, ``?before=ID`` paging, 20
posts a page) plus the photos, videos and channel photo they reference, on 127.0.0.1. An
unknown channel redirects to ``/<name>``, as t.me does for channels without a preview.
Tests change ``posts`` between runs to publish, edit and delete.
"""

from __future__ import annotations

import html
import io
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

PAGE = 20
START = datetime(2024, 3, 1, 8, 0, tzinfo=UTC)


def jpeg(seed: int, size: tuple[int, int] = (64, 48)) -> bytes:
    """A small real JPEG whose pixels depend on ``seed``."""
    from PIL import Image

    image = Image.new("RGB", size, ((seed * 37) % 256, (seed * 91) % 256, (seed * 13) % 256))
    for x in range(0, size[0], 8):
        for y in range(0, size[1], 8):
            if (x // 8 + y // 8 + seed) % 3 == 0:
                image.putpixel((x, y), (255, 255, 255))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()


def photo(post_id: int, n: int) -> bytes:
    """The bytes served for photo ``n`` of post ``post_id``."""
    return jpeg(post_id * 10 + n)


def video(seed: int) -> bytes:
    return b"\x00\x00\x00\x18ftypmp42" + bytes([seed % 256]) * 1500


@dataclass
class Post:
    id: int
    text: str = ""
    photos: int = 0
    video: bool = False
    views: str = "1.2K"
    author: str | None = None
    fwd_name: str | None = None
    fwd_url: str | None = None
    reply_to: int | None = None
    edited: bool = False
    links: list[str] = field(default_factory=list)
    date: datetime | None = None


@dataclass
class PreviewSite:
    channel: str = "witnesschan"
    title: str = "Witness Channel"
    about: str = "Reports from the ground"
    posts: dict[int, Post] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)
    media_host: str | None = None  # a different host name for media URLs, when set
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # path -> (type, body)
    server: ThreadingHTTPServer | None = None

    # -- content ----------------------------------------------------------------------------------
    def publish(self, first: int, last: int, photo_every: int = 0, video_every: int = 0) -> None:
        for post_id in range(first, last + 1):
            self.posts[post_id] = Post(
                post_id,
                text=f"Post {post_id} <b>&</b> report",
                photos=1 if photo_every and post_id % photo_every == 0 else 0,
                video=bool(video_every and post_id % video_every == 0),
            )

    @property
    def base(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    @property
    def preview_url(self) -> str:
        return self.base + "/s/"

    def media_base(self) -> str:
        if self.media_host:
            return f"http://{self.media_host}:{self.server.server_address[1]}"  # type: ignore[union-attr]
        return self.base

    # -- rendering ----------------------------------------------------------------------------------
    def render_post(self, post: Post) -> str:
        name = self.channel
        date = post.date or START + timedelta(hours=post.id)
        parts = [
            '<div class="tgme_widget_message_wrap js-widget_message_wrap">',
            f'<div class="tgme_widget_message text_not_supported_wrap js-widget_message" '
            f'data-post="{name}/{post.id}" data-view="eyJ">',
            f'<div class="tgme_widget_message_user"><a href="https://t.me/{name}">'
            '<i class="tgme_widget_message_user_photo bgcolor1" data-content="W">'
            f'<img src="{self.base}/file/userpic.jpg"></i></a></div>',
            '<div class="tgme_widget_message_bubble">',
            '<div class="tgme_widget_message_author accent_color">'
            f'<a class="tgme_widget_message_owner_name" href="https://t.me/{name}">'
            f'<span dir="auto">{html.escape(self.title)}</span></a></div>',
        ]
        if post.fwd_name:
            parts.append(
                '<div class="tgme_widget_message_forwarded_from accent_color">Forwarded from '
                f'<a class="tgme_widget_message_forwarded_from_name" href="{post.fwd_url}">'
                f"<span>{html.escape(post.fwd_name)}</span></a></div>"
            )
        if post.reply_to:
            parts.append(
                f'<a class="tgme_widget_message_reply" href="https://t.me/{name}/{post.reply_to}">'
                '<div class="tgme_widget_message_author accent_color">'
                f'<span class="tgme_widget_message_author_name">{html.escape(self.title)}</span></div>'
                '<div class="tgme_widget_message_text js-message_text">quoted earlier text</div></a>'
            )
        media = self.media_base()
        if post.photos > 1:
            parts.append(
                '<div class="tgme_widget_message_grouped_wrap js-message_grouped_wrap">'
                '<div class="tgme_widget_message_grouped js-message_grouped">'
                '<div class="tgme_widget_message_grouped_layer js-message_grouped_layer">'
            )
            for n in range(1, post.photos + 1):
                parts.append(
                    f'<a class="tgme_widget_message_photo_wrap grouped_media_wrap blured" '
                    f'href="https://t.me/{name}/{post.id + n - 1}?single" '
                    f"style=\"left:0px;top:0px;background-image:url('{media}/file/{post.id}-{n}.jpg')\">"
                    '<div class="grouped_media_helper"></div></a>'
                )
            parts.append("</div></div></div>")
        elif post.photos == 1:
            parts.append(
                f'<a class="tgme_widget_message_photo_wrap 5467" href="https://t.me/{name}/{post.id}" '
                f"style=\"width:800px;background-image:url('{media}/file/{post.id}-1.jpg')\">"
                '<div class="tgme_widget_message_photo" style="padding-top:75%"></div></a>'
            )
        if post.video:
            parts.append(
                f'<a class="tgme_widget_message_video_player js-message_video_player" '
                f'href="https://t.me/{name}/{post.id}">'
                '<i class="tgme_widget_message_video_thumb" '
                f"style=\"background-image:url('{media}/file/{post.id}-thumb.jpg')\"></i>"
                '<div class="tgme_widget_message_video_wrap">'
                f'<video src="{media}/file/{post.id}.mp4" class="tgme_widget_message_video js-message_video" '
                'width="100%" height="100%"></video></div>'
                '<div class="message_video_play"></div></a>'
            )
        text = html.escape(post.text).replace("\n", "<br/>")
        for link in post.links:
            text += f' <a href="{html.escape(link)}" target="_blank" rel="noopener">{html.escape(link)}</a>'
        parts.append(
            f'<div class="tgme_widget_message_text js-message_text" dir="auto">{text}</div>'
        )
        meta = ""
        if post.author:
            meta += f'<span class="tgme_widget_message_from_author" dir="auto">{html.escape(post.author)}</span>&nbsp;'
        if post.edited:
            meta += "edited "
        parts.append(
            '<div class="tgme_widget_message_footer compact js-message_footer">'
            '<div class="tgme_widget_message_info short js-message_info">'
            f'<span class="tgme_widget_message_views">{post.views}</span>'
            '<span class="copyonly"> views</span>'
            f'<span class="tgme_widget_message_meta">{meta}'
            f'<a class="tgme_widget_message_date" href="https://t.me/{name}/{post.id}">'
            f'<time datetime="{date.isoformat()}" class="time">{date:%H:%M}</time></a></span>'
            "</div></div></div></div></div>"
        )
        return "".join(parts)

    def render_page(self, before: int | None) -> str:
        ids = sorted(i for i in self.posts if before is None or i < before)[-PAGE:]
        more = ""
        if ids and min(ids) > min(self.posts):
            more = (
                f'<a href="/s/{self.channel}?before={ids[0]}" '
                f'class="tme_messages_more js-messages_more" data-before="{ids[0]}"></a>'
            )
        posts = "".join(self.render_post(self.posts[i]) for i in ids)
        return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{html.escape(self.title)} - Telegram</title></head>
<body class="widget_frame_base tgme_webpage">
<header class="tgme_header search_collapsed"><div class="tgme_header_info"></div></header>
<main class="tgme_main">
<div class="tgme_channel_info">
 <div class="tgme_channel_info_header">
  <i class="tgme_page_photo_image bgcolor2" data-content="W"><img src="{self.base}/file/channel.jpg"></i>
  <div class="tgme_channel_info_header_title"><span dir="auto">{html.escape(self.title)}</span></div>
  <div class="tgme_channel_info_header_username"><a href="https://t.me/{self.channel}">@{self.channel}</a></div>
 </div>
 <div class="tgme_channel_info_counters">
  <div class="tgme_channel_info_counter"><span class="counter_value">4.3K</span> <span class="counter_type">subscribers</span></div>
  <div class="tgme_channel_info_counter"><span class="counter_value">120</span> <span class="counter_type">photos</span></div>
 </div>
 <div class="tgme_channel_info_description">{html.escape(self.about)}</div>
</div>
<section class="tgme_channel_history js-message_history">
{more}
{posts}
</section>
</main></body></html>"""

    # -- serving --------------------------------------------------------------------------------------
    def handle(self, path: str, query: dict[str, list[str]]) -> tuple[int, str, bytes, list]:
        if path in self.files:
            ctype, body = self.files[path]
            return 200, ctype, body, []
        if path == f"/s/{self.channel}":
            before = query.get("before", [None])[0]
            page = self.render_page(int(before) if before and before.isdigit() else None)
            return 200, "text/html; charset=utf-8", page.encode(), []
        if path.startswith("/s/"):
            return 302, "text/html", b"", [("Location", "/" + path[3:])]
        if path == "/file/channel.jpg":
            return 200, "image/jpeg", jpeg(999), []
        if path == "/file/userpic.jpg":
            return 200, "image/jpeg", jpeg(998), []
        if path.startswith("/file/") and path.endswith(".jpg"):
            post_id, _, n = path[6:-4].partition("-")
            if post_id.isdigit() and n.isdigit():
                return 200, "image/jpeg", photo(int(post_id), int(n)), []
            if post_id.isdigit() and n == "thumb":
                return 200, "image/jpeg", jpeg(int(post_id) + 5000), []
        if path.startswith("/file/") and path.endswith(".mp4") and path[6:-4].isdigit():
            return 200, "video/mp4", video(int(path[6:-4])), []
        return 404, "text/plain", b"not found", []

    def start(self) -> PreviewSite:
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                site.requests.append(self.path)
                status, ctype, body, extra = site.handle(parts.path, parse_qs(parts.query))
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                for name, value in extra:
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
