"""Collectors declare themselves once; the registry, the options check and the settings view
read those declarations."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from collectors import registry
from collectors.base import SettingsView
from collectors.options import Option, OptionError, OptionSet
from kernel.errors import InputError
from kernel.netpolicy import NetworkPolicy
from kernel.settings import Settings
from preservation.catalogue import watchlist
from preservation.pipeline import collect_into_staging
from preservation.runtime import open_runtime
from tests.support.fake_collector import StaticCollector, declared_as

ROOT = Path(__file__).resolve().parents[2]
SECRETS = {
    "s3_access_key": "AKIA-TEST-ACCESS",
    "s3_secret_key": "S3-SECRET-TEST-VALUE",
    "signing_key_pem": "-----BEGIN PRIVATE KEY-----TESTKEY",
    "telegram_api_hash": "TG-HASH-TEST-VALUE",
    "telegram_session": "TG-SESSION-TEST-VALUE",
}


@pytest.mark.parametrize("kind", registry.KINDS)
def test_every_kind_declares_itself(kind):
    cls = registry.collector_class(kind)
    assert cls.kind == kind and cls.title
    assert cls.every >= 60 and cls.dag_every >= 60
    assert registry.pool(kind)[0] == f"witnessbox_{kind}" and registry.pool(kind)[1] >= 1
    assert cls.options is not None and cls.options.kind == kind
    for name in registry.settings_names(kind):
        assert name in {f.name for f in dataclasses.fields(Settings)}, name


def test_declared_defaults_and_pools():
    assert registry.default_interval("web") == 86400
    assert registry.default_interval("video") == 6 * 3600
    assert registry.default_interval("telegram") == 3600
    assert registry.pool("telegram") == ("witnessbox_telegram", 1)


def test_inference_asks_the_specific_collectors_before_the_generic_one():
    assert registry.infer_kind("https://vimeo.com/1") == "video"
    assert registry.infer_kind("@some_channel") == "telegram"
    assert registry.infer_kind("https://example.org/") == "web"
    with pytest.raises(InputError, match="unsupported URL scheme"):
        registry.infer_kind("ftp://example.org/")
    with pytest.raises(InputError, match="is a Telegram channel, not a web URL"):
        registry.normalise_source("@some_channel", "web")


def test_the_kernel_spells_out_no_kind():
    """Kinds are declared by the collectors; the kernel imports none of them."""
    for path in (ROOT / "kernel").glob("*.py"):
        text = path.read_text()
        assert not re.search(r"[\"']web[\"'],\s*[\"']video[\"']", text), path
        assert "DEFAULT_BY_KIND" not in text, path


def test_an_options_dataclass_and_its_declarations_cannot_drift():
    @dataclasses.dataclass(frozen=True)
    class Opts:
        size: int = 3
        colour: str = "red"

    with pytest.raises(TypeError, match="undeclared \\['colour'\\]"):
        OptionSet("test", Opts, [Option("size", "int", "a size")])
    bound = OptionSet(
        "test", Opts, [Option("size", "int", "", minimum=1), Option("colour", "text", "")]
    )
    assert bound["size"].default == 3 and bound.build({"size": "4"}) == Opts(4, "red")
    with pytest.raises(OptionError, match=r"^test option size=0: must be a whole number of at least 1$"):
        bound.parse({"size": 0})


@pytest.mark.parametrize(
    ("kind", "options", "message"),
    [
        ("web", {"viewport_width": -5}, "web option viewport_width=-5: must be a whole number"),
        ("web", {"pdf": "maybe"}, "web option pdf=maybe: must be true or false"),
        ("web", {"colour": "blue"}, "unknown web option colour=blue (known: "),
        ("web", {"user_agent": "a\r\nX-Evil: 1"}, 'user_agent="a\\r\\nX-Evil: 1": must be text'),
        ("web", {"nav_timeout_s": 0}, "nav_timeout_s=0: must be a number greater than 0"),
        ("web", {"idle_max_s": "NaN"}, "idle_max_s=NaN: must be a number of at least 0"),
        ("video", {"max_entries": 0}, "video option max_entries=0: must be a whole number"),
        ("video", {"listing": "random"}, "listing=random: must be one of newest-first, oldest"),
        ("video", {"rate_limit": "lots"}, "rate_limit=lots: must be a size such as"),
        ("video", {"cookies": "/no/such/cookies.txt"}, "cookies=(not shown): must be the path"),
        ("video", {"format": ""}, "video option format=: must be a yt-dlp format selector"),
        ("telegram", {"page_size": 500}, "page_size=500: must be a whole number from 1 to 100"),
        ("telegram", {"mode": "bot"}, "mode=bot: must be one of auto, api, preview"),
        ("telegram", {"media": "photo,cat"}, "media=photo,cat: must be a comma-separated list"),
        ("telegram", {"max_messages": 2.5}, "max_messages=2.5: must be a whole number"),
    ],
)
def test_bad_values_are_refused_naming_option_value_and_rule(kind, options, message):
    with pytest.raises(OptionError) as caught:
        registry.check_options(kind, options)
    text = str(caught.value)
    assert message in text and "\n" not in text and "\r" not in text
    assert "/no/such" not in text  # a cookies path is never echoed (reasons reach manifests)


def test_good_values_and_aliases_pass():
    registry.check_options("web", {"viewport_width": 800, "pdf": "true", "wacz": False})
    registry.check_options("video", {"ratelimit": "50K", "max-entries": "3", "subtitles": "en"})
    registry.check_options("telegram", {"mode": "preview", "media": ["photo", "video"]})


def test_settings_view_refuses_what_was_not_declared():
    view = SettingsView(Settings(home=Path("/tmp/x"), s3_secret_key="k"), ("home",))
    assert view.home == Path("/tmp/x") and view.names() == ("home",)
    with pytest.raises(AttributeError, match="settings_used"):
        _ = view.s3_secret_key
    with pytest.raises(AttributeError):
        view.home = Path("/")  # type: ignore[misc]


def _context_seen_by(tmp_path: Path, kind: str, url: str):
    real = registry.collector_class(kind)
    recording = declared_as(real)(type(f"Recording{kind}", (StaticCollector,), {}))
    settings = Settings(home=tmp_path / "home", **SECRETS, telegram_api_id="12345")
    rt = open_runtime(settings)
    try:
        collector = recording(files={"page.html": b"<html>x</html>"})
        rt.collectors[kind] = collector
        spec = watchlist.validate_entry(url, NetworkPolicy(), kind=kind)
        source = watchlist.add_source(rt.catalogue, spec, "analyst", rt.clock())
        collect_into_staging(rt, source)  # where the pipeline builds the context
        [ctx] = collector.seen_calls
        return ctx
    finally:
        rt.close()


def _values(view: SettingsView) -> list[str]:
    return [str(getattr(view, name)) for name in view.names()]


@pytest.mark.parametrize(
    ("kind", "url"), [("web", "https://example.org/a"), ("video", "https://vimeo.com/1")]
)
def test_web_and_video_collectors_never_see_a_secret(tmp_path, kind, url):
    ctx = _context_seen_by(tmp_path, kind, url)
    assert isinstance(ctx.settings, SettingsView)
    for name in ("s3_access_key", "s3_secret_key", "signing_key", "signing_key_pem",
                 "telegram_api_hash", "telegram_session", "s3_endpoint", "store"):  # fmt: skip
        assert not hasattr(ctx.settings, name), name
    everything = " ".join(_values(ctx.settings))
    for secret in SECRETS.values():
        assert secret not in everything
    assert ctx.settings.max_capture_bytes > 0  # what it needs is there


def test_telegram_sees_its_session_but_not_the_archive_keys(tmp_path):
    ctx = _context_seen_by(tmp_path, "telegram", "https://t.me/some_channel")
    assert ctx.settings.telegram_session == SECRETS["telegram_session"]
    for name in ("s3_access_key", "s3_secret_key", "signing_key", "signing_key_pem"):
        assert not hasattr(ctx.settings, name), name
    everything = " ".join(_values(ctx.settings))
    for name in ("s3_access_key", "s3_secret_key", "signing_key_pem"):
        assert SECRETS[name] not in everything


def test_readme_option_tables_are_the_declarations():
    readme = (ROOT / "README.md").read_text()
    for kind in registry.KINDS:
        start, end = f"<!-- options:{kind} -->\n", f"\n<!-- /options:{kind} -->"
        readme = readme.replace(f"{start}{end[1:]}", f"{start}(empty){end}")
        assert start in readme and end in readme, f"README lacks the {kind} options table"
        shown = readme.split(start, 1)[1].split(end, 1)[0]
        assert shown == registry.options_table(kind), (
            f"README's {kind} options differ from the declarations: "
            "run python -m collectors.registry --readme README.md"
        )
