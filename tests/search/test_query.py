"""The normaliser and the query parser: one folding for index and query, hostile input refused."""

from __future__ import annotations

import pytest

from kernel.errors import InputError
from preservation.search import query as q
from preservation.search.snippet import make_snippet
from preservation.search.text import normalised, tokens


def test_folding_is_case_insensitive_and_joins_yo_with_ye():
    assert tokens("ЁЛКА Ёж, Её") == ["елка", "еж", "ее"]
    assert normalised("Шчаслівы ВЫПАДАК") == "шчаслівы выпадак"


def test_belarusian_letters_stay_their_own():
    assert tokens("Ў ў і й") == ["ў", "ў", "і", "й"]  # ў is not у, і is not и, й is not и
    assert tokens("Мiнск") == ["мінск"]  # a Latin i typed inside a Cyrillic word
    assert tokens("з'езд з’езд") == ["зезд", "зезд"]  # both apostrophes
    assert tokens("mixed Minsk") == ["mixed", "minsk"]  # Latin words keep their i


@pytest.mark.parametrize(
    ("text", "fts", "tsq"),
    [
        ("Мінск", '"мінск"', "('мінск')"),
        ('"Плошча Перамогі"', '("плошча перамогі")', "('плошча' <-> 'перамогі')"),
        ("вул*", '"вул" *', "('вул':*)"),
        ("a OR b", '("a" OR "b")', "(('a') | ('b'))"),
        ("a -b", '(("a") NOT "b")', "(('a') & !('b'))"),
        ("a NOT (b OR c)", '(("a") NOT ("b" OR "c"))', "(('a') & !(('b') | ('c')))"),
        ("ёж AND (x y)", '("еж" AND ("x" AND "y"))', "(('еж') & (('x') & ('y')))"),
    ],
)
def test_queries_compile_for_both_backends(text, fts, tsq):
    tree = q.parse(text)
    assert q.to_fts5(tree) == fts
    assert q.to_tsquery(tree) == tsq


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ('"unbalanced', "quote"),
        ("*", "prefix"),
        ("a*", "prefix"),
        ("", "empty"),
        ("   ", "empty"),
        ("NOT alone", "NOT needs"),
        ("-alone", "NOT needs"),
        ("(open", "parenthesis"),
        ("close)", "unexpected"),
        ("a OR", "missing"),
        ("AND", "unexpected"),
        ("x" * 10_000, "too long"),
        ("'; DROP TABLE captures; --", "no word"),
        ("a*b*", "only end"),
        (" ".join(["w"] * 40), "more than"),
    ],
)
def test_hostile_queries_are_a_clear_error(text, error):
    with pytest.raises(InputError) as caught:
        q.parse(text)
    assert error in str(caught.value)


def test_quotes_inside_words_never_reach_the_backend_unquoted():
    tree = q.parse("\"x') OR 1=1; --\" OR search_fts:body")
    assert q.to_fts5(tree) == '(("x or 1 1") OR ("search fts body"))'
    assert q.to_tsquery(tree) == "(('x' <-> 'or' <-> '1' <-> '1') | ('search' <-> 'fts' <-> 'body'))"


def test_snippet_marks_the_matching_words_in_the_original_text():
    text = "Вчера в Минске. " + "слово " * 50 + "Ёлка у ПЛОШЧЫ Перамогі стаяла."
    snip = make_snippet(text, q.terms(q.parse('елка "плошчы перамогі"')), width=80)
    marked = snip.marked()
    assert "[Ёлка]" in marked and "[ПЛОШЧЫ Перамогі]" in marked
    assert snip.text.startswith("…")


def test_bulk_tokens_equal_word_by_word_folding():
    from preservation.search.text import words

    text = ("Сёння ў Мінску, 3 сакавіка: з'езд «Вясны»; snake_case e-mail don't ЁЛКА "
            "Мiнск ВУЛІЦА_Леніна " + "я" * 70)
    assert tokens(text) == [t for _, _, t in words(text)]
    assert "snake" in tokens(text) and "зезд" in tokens(text)
