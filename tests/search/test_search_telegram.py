"""Search and changes over Telegram captures (fake client, real pipeline), on both catalogues."""

from __future__ import annotations

import json

import pytest

from collectors.telegram.collector import TelegramCollector
from kernel.errors import InputError
from kernel.netpolicy import NetworkPolicy
from preservation.catalogue import watchlist
from preservation.catalogue.models import Source
from preservation.cli.main import main
from preservation.reindex import reindex
from preservation.runner import capture_source
from preservation.search.changes import list_changes
from preservation.search.index import Filters, search
from tests.support.telegram_fake import FakeTelegram

POSTS = {
    1: "Сёння ў Мінску на Плошчы Перамогі сабраліся людзі",
    2: "Ёлка на площади Победы в Минске",
    3: "Police detained journalists near the station",
    4: "Задержаны журналисты у вокзала",
}


@pytest.fixture
def api_env(catalogue_url, monkeypatch, tmp_path):
    monkeypatch.setenv("WITNESSBOX_CHANGE_NOTIFIER", "tests.support.search_site.RecordingNotifier")
    monkeypatch.setenv("WITNESSBOX_CHANGE_NOTIFIER_ARGS",
                       json.dumps({"path": str(tmp_path / "alerts.jsonl")}))  # fmt: skip
    monkeypatch.setenv("WITNESSBOX_TELEGRAM_API_ID", "12345")
    monkeypatch.setenv("WITNESSBOX_TELEGRAM_API_HASH", "feedfacefeedfacefeedfacefeedface")
    monkeypatch.setenv("WITNESSBOX_TELEGRAM_SESSION", "1BsessionSECRETvalue==")


@pytest.fixture
def rt(api_env, runtime):
    fake = FakeTelegram()
    for message_id, text in POSTS.items():
        fake.add(message_id, text)
    runtime.collectors["telegram"] = TelegramCollector(connect=lambda s: fake, sleep=lambda s: None)
    runtime.fake = fake
    return runtime


def _capture(rt, source_id):
    with rt.catalogue.session() as session:
        return capture_source(rt, session.get(Source, source_id))


def _find(rt, query, **filters):
    with rt.catalogue.session() as session:
        return search(session, query, Filters(**filters))


def _archive(rt):
    spec = watchlist.validate_entry(
        "https://t.me/witnesschan", NetworkPolicy(), kind="telegram", case="CASE-BY"
    )
    source = watchlist.add_source(rt.catalogue, spec, "analyst", rt.clock())
    first = _capture(rt, source.id)
    rt.fake.edit(4, "Отпущены журналисты у вокзала")
    rt.fake.delete(2)
    second = _capture(rt, source.id)
    return source, first, second


def test_messages_are_found_by_words_phrases_prefixes_and_folding(rt):
    source, first, second = _archive(rt)
    assert first.status == second.status == "complete", first.reasons + second.reasons

    assert [(h.item, h.version) for h in _find(rt, "МИНСКЕ")] == [("2", 1)]
    deleted = _find(rt, "елка")  # ё in the text, е in the query; message 2 is deleted now
    assert [(h.capture_id, h.item) for h in deleted] == [(first.capture_id, "2")]
    assert deleted[0].snippet.startswith("Ёлка") and deleted[0].marks == [(0, 4)]
    assert [h.item for h in _find(rt, '"плошчы перамогі"')] == ["1"]
    assert _find(rt, '"перамогі плошчы"') == []  # a phrase keeps its order
    assert [h.item for h in _find(rt, "сёння ў")] == ["1"]
    assert _find(rt, "у сення мінску") == []  # ў is not у
    both = _find(rt, "журналист*")  # both versions of message 4, the newest first
    assert [(h.capture_id, h.item, h.version) for h in both] == [
        (second.capture_id, "4", 2),
        (first.capture_id, "4", 1),
    ]
    assert [h.version for h in _find(rt, "задержаны")] == [1]  # only the earlier version says so
    assert [h.item for h in _find(rt, "journalists OR людзі")] == ["3", "1"]
    assert [h.item for h in _find(rt, "journalists -police")] == []
    assert [h.item for h in _find(rt, "вокзала NOT отпущены")] == ["4"]


def test_filters_narrow_the_hits(rt):
    source, first, second = _archive(rt)
    assert len(_find(rt, "журналисты", case="CASE-BY")) == 2
    assert _find(rt, "журналисты", case="OTHER") == []
    assert _find(rt, "журналисты", kind="web") == []
    assert len(_find(rt, "журналисты", source=source.id, status="complete")) == 2
    finished = rt.clock()
    assert _find(rt, "журналисты", since=finished) == []
    assert len(_find(rt, "журналисты", until=finished)) == 2


def test_edits_and_deletions_are_changes_with_their_time(rt, tmp_path):
    source, first, second = _archive(rt)
    alerts = [json.loads(line) for line in (tmp_path / "alerts.jsonl").read_text().splitlines()]
    assert [(a["kind"], a["item"], a["capture_id"]) for a in alerts] == [
        ("message-deleted", "2", second.capture_id)]  # the notifier heard of the deletion only
    with rt.catalogue.session() as session:
        changes = list_changes(session)
    kinds = {(c["kind"], c["item"]) for c in changes}
    assert kinds == {("message-edited", "4"), ("message-deleted", "2")}
    deleted = next(c for c in changes if c["kind"] == "message-deleted")
    assert deleted["alert"] and deleted["capture_id"] == second.capture_id
    assert deleted["previous_capture_id"] == first.capture_id


def test_reindex_rebuilds_the_text_index_from_the_store(rt):
    _archive(rt)
    before = [(h.capture_id, h.item, h.version) for h in _find(rt, "журналист* OR елка")]
    report = reindex(rt.store, rt.catalogue, rt.clock(), wipe=True)
    assert not report.problems
    after = [(h.capture_id, h.item, h.version) for h in _find(rt, "журналист* OR елка")]
    assert after == before and len(after) == 3
    with rt.catalogue.session() as session:
        assert {c["kind"] for c in list_changes(session)} == {"message-edited", "message-deleted"}


@pytest.mark.parametrize(
    "query", ['"unbalanced', "*", "x" * 10_000, "'; DROP TABLE search_docs; --", "NOT x", ")("]
)
def test_hostile_queries_give_a_clear_error(rt, query):
    _archive(rt)
    with pytest.raises(InputError):
        _find(rt, query)


def test_search_and_changes_on_the_command_line(rt, capsys):
    _archive(rt)
    capsys.readouterr()
    assert main(["search", "журналист*", "--case", "CASE-BY", "--json"]) == 0
    hits = json.loads(capsys.readouterr().out)
    assert [h["version"] for h in hits] == [2, 1] and hits[0]["kind"] == "telegram"
    assert main(["search", "Ёлка"]) == 0
    out = capsys.readouterr().out
    assert "[Ёлка] на площади" in out and "https://t.me/witnesschan" in out
    assert main(["search", '"open']) == 2
    assert capsys.readouterr().err.startswith("error: bad search query")
    assert main(["search", "x", "--since", "yesterday"]) == 2
    assert main(["changes", "--since", "1d", "--json"]) == 0
    changes = json.loads(capsys.readouterr().out)
    assert [c["kind"] for c in changes] == ["message-deleted", "message-edited"] or [
        c["kind"] for c in changes
    ] == ["message-edited", "message-deleted"]
    assert main(["changes", "--case", "NONE"]) == 0
    assert "no changes" in capsys.readouterr().out


def test_a_broken_notifier_never_fails_a_capture(rt, caplog):
    rt.settings.change_notifier = "nowhere.Missing"
    source, first, second = _archive(rt)
    assert second.status == "complete"
    assert "change notifier nowhere.Missing unusable" in caplog.text
