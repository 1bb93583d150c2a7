"""Watchlist validation through the real CLI: ten valid and ten invalid entries."""

from __future__ import annotations

import json

import pytest

from kernel.settings import load_settings
from preservation.cli.main import main
from tests.support.catalogue_sql import exists, sql

pytestmark = pytest.mark.usefixtures("catalogue_url")  # on SQLite and PostgreSQL

VALID = [
    (["https://Example.ORG:443/news#top"], "web", "https://example.org/news"),
    (["example.net/path?q=1"], "web", "https://example.net/path?q=1"),
    (["http://example.com:8080"], "web", "http://example.com:8080/"),
    (["https://www.youtube.com/watch?v=dQw4w9WgXcQ"], "video", None),
    (["https://vimeo.com/123456", "--every", "30m"], "video", "https://vimeo.com/123456"),
    (["https://t.me/s/Nexta_Live"], "telegram", "https://t.me/nexta_live"),
    (["@belamova_channel"], "telegram", "https://t.me/belamova_channel"),
    (["telegram:@tut_by_news", "--every", "1d"], "telegram", "https://t.me/tut_by_news"),
    (["https://пример.рф/страница"], "web", "https://xn--e1afmkfd.xn--p1ai/%D1%81%D1%82%D1%80%D0%B0%D0%BD%D0%B8%D1%86%D0%B0"),
    (["https://example.com/v.mp4", "--kind", "video", "--every", "1h30m"], "video", None),
]

INVALID = [
    (["ftp://example.org/file"], "unsupported URL scheme"),
    (["javascript:alert(1)"], "unsupported URL scheme"),
    (["http://127.0.0.1:8080/admin"], "loopback"),
    (["http://169.254.169.254/latest/meta-data/"], "metadata"),
    (["http://10.0.0.5/"], "private-network"),
    (["http://localhost/"], "local name"),
    (["https://user:secret@example.org/"], "credentials"),
    (["https://example.org/", "--every", "every day"], "bad schedule"),
    (["https://t.me/+AbCdEf123"], "private invite"),
    (["https://exa mple.org/"], "spaces"),
]


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def count_sources() -> int:
    """Sources in the configured catalogue (0 before it exists)."""
    settings = load_settings()
    if not exists(settings):
        return 0
    return sql(settings, "select count(*) from sources")[0][0]


@pytest.mark.parametrize(("argv", "kind", "url"), VALID)
def test_valid_entries_are_added(wb_env, capsys, argv, kind, url):
    code, out, err = run(capsys, "watch", "add", *argv, "--tag", "belarus", "--case", "IAPB-7", "--json")
    assert code == 0, err
    source = json.loads(out)
    assert source["kind"] == kind
    if url:
        assert source["url"] == url
    assert source["id"].startswith("src-") and source["added_by"] == "test-operator"
    assert source["tags"] == ["belarus"] and source["case"] == "IAPB-7"
    assert source["added_at"].endswith("Z")
    # the same source in another spelling is refused, naming the existing id
    code, out, err = run(capsys, "watch", "add", *argv)
    assert code == 2 and f"already watched as {source['id']}" in err
    assert count_sources() == 1


@pytest.mark.parametrize(("argv", "message"), INVALID)
def test_invalid_entries_are_refused_with_one_line(wb_env, capsys, argv, message):
    code, out, err = run(capsys, "watch", "add", *argv)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("error: ") and message in err
    assert "Traceback" not in err
    assert count_sources() == 0


def test_private_networks_allowed_by_operator(wb_env, capsys, monkeypatch):
    monkeypatch.setenv("WITNESSBOX_ALLOW_PRIVATE_NETWORKS", "1")
    code, out, err = run(capsys, "watch", "add", "http://127.0.0.1:8080/", "--json")
    assert code == 0, err


def test_pause_resume_remove_show_and_list(wb_env, capsys):
    _, out, _ = run(capsys, "watch", "add", "https://example.org/", "--json", "--note", "why we watch")
    sid = json.loads(out)["id"]
    assert run(capsys, "watch", "pause", sid)[0] == 0
    _, out, _ = run(capsys, "watch", "show", sid, "--json")
    shown = json.loads(out)
    assert shown["active"] is False and shown["note"] == "why we watch" and shown["captures"] == 0
    assert run(capsys, "watch", "resume", sid)[0] == 0
    assert run(capsys, "watch", "remove", sid)[0] == 0
    _, out, _ = run(capsys, "watch", "list", "--json")
    assert json.loads(out) == []
    _, out, _ = run(capsys, "watch", "list", "--json", "--all")
    assert json.loads(out)[0]["removed_at"]
    code, _, err = run(capsys, "watch", "resume", sid)
    assert code == 2 and "removed" in err
    code, _, err = run(capsys, "watch", "show", "src-nope")
    assert code == 2 and err == "error: unknown source: src-nope\n"


def test_import_is_all_or_nothing_and_export_round_trips(
    wb_env, capsys, tmp_path, fresh_catalogue, monkeypatch
):
    good = tmp_path / "good.csv"
    good.write_text("url,kind,every,tags,case\nhttps://example.org/a,,6h,a;b,C1\n@some_channel,,,,C1\n")
    code, out, err = run(capsys, "watch", "import", str(good), "--json")
    assert code == 0, err
    assert len(json.loads(out)["added"]) == 2
    bad = tmp_path / "bad.txt"
    bad.write_text("https://example.org/new\nhttp://192.168.1.1/\nnot a url at all\n")
    code, out, err = run(capsys, "watch", "import", str(bad))
    assert code == 2 and "entry 2" in err and "and 1 more" in err and "nothing imported" in err
    assert count_sources() == 2
    again = run(capsys, "watch", "import", str(good), "--json")
    assert json.loads(again[1])["skipped"][0]["existing_id"].startswith("src-")
    export = tmp_path / "out.json"
    assert run(capsys, "watch", "export", str(export))[0] == 0
    exported = json.loads(export.read_text())
    assert {s["url"] for s in exported} == {"https://example.org/a", "https://t.me/some_channel"}
    assert run(capsys, "watch", "export", str(export))[0] == 2  # never overwrites a file
    # an export imports cleanly into a fresh watchlist
    monkeypatch.setenv("WITNESSBOX_CATALOGUE", fresh_catalogue(tmp_path / "other"))
    code, out, _ = run(capsys, "--home", str(tmp_path / "other"), "watch", "import", str(export), "--json")
    assert code == 0 and len(json.loads(out)["added"]) == 2


def test_usage_errors_are_one_line(wb_env, capsys):
    code, out, err = run(capsys, "watch", "add")
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1
    code, out, err = run(capsys, "captures", "--limit", "many")
    assert code == 2 and err.count("\n") == 1
    code, out, err = run(capsys, "show", "0190-nope")
    assert code == 2 and "unknown capture" in err


def test_captures_and_show_list_the_catalogue(wb_env, capsys, runtime):
    from preservation.catalogue import watchlist
    from preservation.runner import capture_source
    from tests.support.fake_collector import StaticCollector

    spec = watchlist.validate_entry("https://example.org/x", runtime.policy, case="C9")
    source = watchlist.add_source(runtime.catalogue, spec, "a", runtime.clock())
    runtime.collectors["web"] = StaticCollector({"page.html": b"hello"})
    outcome = capture_source(runtime, source)
    code, out, _ = run(capsys, "captures", "--json", "--case", "C9")
    rows = json.loads(out)
    assert code == 0 and rows[0]["id"] == outcome.capture_id and rows[0]["artifacts"][0]["size"] == 5
    code, out, _ = run(capsys, "show", outcome.capture_id, "--json")
    shown = json.loads(out)
    assert shown["manifest"]["capture"]["id"] == outcome.capture_id
    assert [e["event"] for e in shown["custody"]] == ["captured", "stored"]
    code, out, _ = run(capsys, "show", outcome.capture_id)
    assert "page.html" in out and outcome.capture_id in out
    assert "custody:" in out and " stored " in out
    code, out, _ = run(capsys, "captures", "--case", "other", "--json")
    assert json.loads(out) == []
