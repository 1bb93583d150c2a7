"""Options are checked at the door: watch add, watch import and capture refuse a bad value
with exit 2, one line naming the option, the value and what is allowed, and write nothing."""

from __future__ import annotations

import json

import pytest

from preservation.cli.main import main
from tests.preservation.test_watchlist import count_sources

BAD = [
    ("https://example.org/a", ["viewport_width=-5"], "web option viewport_width=-5: must be"),
    ("https://example.org/a", ["pdf=maybe"], "web option pdf=maybe: must be true or false"),
    ("https://example.org/a", ["colour=blue"], "unknown web option colour=blue (known: "),
    ("https://example.org/a", ["screenshot=2"], "web option screenshot=2: must be true or false"),
    ("https://example.org/a", ["capture_timeout_s=0"], "capture_timeout_s=0: must be a number"),
    ("https://example.org/a", ["user_agent=a\nb"], 'user_agent="a\\nb": must be text'),
    ("https://example.org/a", ["novalue"], "bad option novalue: use KEY=VALUE"),
    ("https://vimeo.com/1", ["max_entries=0"], "video option max_entries=0: must be a whole"),
    ("https://vimeo.com/1", ["listing=random"], "listing=random: must be one of newest-first"),
    ("https://vimeo.com/1", ["cookies=/no/such/file"], "cookies=(not shown): must be the path"),
    ("https://vimeo.com/1", ["rate_limit=fast"], "rate_limit=fast: must be a size such as"),
    ("@some_channel", ["page_size=500"], "telegram option page_size=500: must be a whole number"),
    ("@some_channel", ["mode=bot"], "telegram option mode=bot: must be one of auto, api"),
    ("@some_channel", ["viewport_width=800"], "unknown telegram option viewport_width=800"),
]


def _refused(capsys, home, argv, message):
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 2, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert message in lines[0]
    assert "Traceback" not in err and out == ""
    assert count_sources() == 0


@pytest.mark.parametrize(("url", "options", "message"), BAD)
def test_watch_add_refuses_a_bad_option(wb_env, capsys, tmp_path, url, options, message):
    argv = ["watch", "add", url]
    for option in options:
        argv += ["--option", option]
    _refused(capsys, tmp_path / "home", argv, message)


@pytest.mark.parametrize(("url", "options", "message"), BAD[:3])
def test_capture_refuses_a_bad_option_before_collecting(wb_env, capsys, tmp_path, url, options,
                                                        message):  # fmt: skip
    argv = ["capture", url, *[a for o in options for a in ("--option", o)]]
    _refused(capsys, tmp_path / "home", argv, message)
    assert not (tmp_path / "home" / "staging").exists() or not any(
        (tmp_path / "home" / "staging").iterdir()
    )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"viewport_width": -5}, "entry 2: web option viewport_width=-5: must be"),
        ({"pdf": "maybe"}, "entry 2: web option pdf=maybe: must be true or false"),
        ({"colour": "blue"}, "entry 2: unknown web option colour=blue"),
        (["pdf=true"], "entry 2: options must be an object of KEY: VALUE pairs"),
    ],
)
def test_watch_import_refuses_a_bad_option_and_imports_nothing(wb_env, capsys, tmp_path, options,
                                                               message):  # fmt: skip
    rows = [{"url": "https://example.org/good"}, {"url": "https://example.org/bad",
                                                  "options": options}]  # fmt: skip
    path = tmp_path / "list.json"
    path.write_text(json.dumps(rows))
    _refused(capsys, tmp_path / "home", ["watch", "import", str(path)], message)


def test_good_options_are_stored_as_given(wb_env, capsys):
    code = main(["watch", "add", "https://example.org/a", "--option", "pdf=true",
                 "--option", "viewport_width=800", "--json"])  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 0, err
    assert json.loads(out)["options"] == {"pdf": True, "viewport_width": 800}
    code = main(["watch", "add", "https://vimeo.com/2", "--option", "ratelimit=2M", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert json.loads(out)["options"] == {"ratelimit": "2M"}


def test_watch_options_lists_the_declarations(wb_env, capsys, tmp_path):
    from collectors import registry

    assert main(["watch", "options", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert list(data) == list(registry.KINDS)
    for kind, options in data.items():
        declared = registry.collector_class(kind).options
        assert [o["name"] for o in options] == [o.name for o in declared]
    web = {o["name"]: o for o in data["web"]}
    assert web["viewport_width"]["allowed"] == "a whole number from 1 to 16384"
    assert web["pdf"]["default"] == "false"
    assert main(["watch", "options", "--kind", "video"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("video:\n") and "  rate_limit  a size such as" in out
    assert not (tmp_path / "home").exists()  # nothing to open for a listing
