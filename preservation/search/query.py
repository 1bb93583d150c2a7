"""The one search syntax, parsed here and compiled for each backend (never passed raw).

Syntax: words (all must match), ``"a phrase"``, ``prefix*``, ``AND``, ``OR``, ``NOT`` (upper
case; ``-word`` also negates) and parentheses. Adjacent terms are joined by AND; AND binds
tighter than OR. Every word goes through the same normaliser as the indexed text, and the
compiled forms quote every token, so no user text reaches FTS5's MATCH or PostgreSQL's
tsquery syntax unquoted. A query that cannot be understood raises ``InputError`` with a
plain reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kernel.errors import InputError
from preservation.search.text import tokens

MAX_QUERY_CHARS = 1000
MAX_TERMS = 32
MIN_PREFIX = 2
_LEXER = re.compile(r'\s*(?:(?P<quote>")|(?P<open>\()|(?P<close>\))|(?P<word>[^\s"()]+))')


@dataclass(frozen=True)
class Term:
    words: tuple[str, ...]  # folded tokens; several for a phrase (or a word NFKC split)
    prefix: bool = False


@dataclass(frozen=True)
class Node:
    op: str  # AND | OR | NOT
    children: tuple[Query, ...]


Query = Term | Node


def _lex(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _LEXER.match(text, pos)
        if match is None:  # pragma: no cover - the pattern matches any non-blank character
            raise InputError(f"bad search query near {text[pos:pos + 20]!r}")
        if match.group("quote"):
            end = text.find('"', match.end())
            if end < 0:
                raise InputError('bad search query: a quote (") is not closed')
            out.append(("phrase", text[match.end() : end]))
            pos = end + 1
            continue
        pos = match.end()
        if match.group("open"):
            out.append(("(", "("))
        elif match.group("close"):
            out.append((")", ")"))
        else:
            word = match.group("word")
            out.append(("op", word) if word in ("AND", "OR", "NOT") else ("word", word))
    return out


class _Parser:
    def __init__(self, items: list[tuple[str, str]]) -> None:
        self.items = items
        self.pos = 0
        self.terms = 0

    def peek(self) -> tuple[str, str] | None:
        return self.items[self.pos] if self.pos < len(self.items) else None

    def take(self) -> tuple[str, str]:
        item = self.items[self.pos]
        self.pos += 1
        return item

    def parse_or(self) -> Query:
        parts = [self.parse_and()]
        while self.peek() == ("op", "OR"):
            self.take()
            parts.append(self.parse_and())
        return parts[0] if len(parts) == 1 else Node("OR", tuple(parts))

    def parse_and(self) -> Query:
        parts = [self.parse_unary()]
        while (item := self.peek()) is not None and item not in (("op", "OR"), (")", ")")):
            if item == ("op", "AND"):
                self.take()
            parts.append(self.parse_unary())
        return parts[0] if len(parts) == 1 else Node("AND", tuple(parts))

    def parse_unary(self) -> Query:
        item = self.peek()
        if item is None:
            raise InputError("bad search query: a term is missing at the end")
        if item == ("op", "NOT"):
            self.take()
            return Node("NOT", (self.parse_unary(),))
        if item[0] == "word" and item[1].startswith("-") and len(item[1]) > 1:
            self.take()
            self.items.insert(self.pos, ("word", item[1][1:]))
            return Node("NOT", (self.parse_unary(),))
        self.take()
        if item[0] == "(":
            inner = self.parse_or()
            if self.peek() != (")", ")"):
                raise InputError("bad search query: a parenthesis is not closed")
            self.take()
            return inner
        if item[0] in (")", "op"):
            raise InputError(f"bad search query: unexpected {item[1]!r}")
        return self.term(item)

    def term(self, item: tuple[str, str]) -> Term:
        kind, text = item
        prefix = kind == "word" and text.endswith("*")
        words = tuple(tokens(text.rstrip("*") if prefix else text))
        if prefix and "*" in text.rstrip("*"):
            raise InputError("bad search query: '*' may only end a word")
        if not words:
            if prefix:
                raise InputError(f"bad search query: a prefix needs {MIN_PREFIX}+ letters")
            raise InputError(f"bad search query: {text!r} holds no word to search for")
        if prefix and len(words[-1]) < MIN_PREFIX:
            raise InputError(f"bad search query: a prefix needs {MIN_PREFIX}+ letters")
        self.terms += len(words)
        if self.terms > MAX_TERMS:
            raise InputError(f"bad search query: more than {MAX_TERMS} words")
        return Term(words, prefix)


def parse(text: str) -> Query:
    """The user's query → a tree of terms; ``InputError`` for anything malformed."""
    if len(text) > MAX_QUERY_CHARS:
        raise InputError(f"search query too long (at most {MAX_QUERY_CHARS} characters)")
    items = _lex(text)
    if not items:
        raise InputError("empty search query")
    parser = _Parser(items)
    tree = parser.parse_or()
    if parser.peek() is not None:
        raise InputError(f"bad search query: unexpected {parser.peek()[1]!r}")  # type: ignore[index]
    _check_positive(tree)
    return tree


def _check_positive(node: Query) -> None:
    """Every branch needs something to find: ``NOT x`` alone would list the whole archive."""
    if isinstance(node, Term):
        return
    if node.op == "NOT":
        raise InputError("bad search query: NOT needs a term to narrow (a NOT b)")
    if node.op == "AND":
        positive = [c for c in node.children if not (isinstance(c, Node) and c.op == "NOT")]
        if not positive:
            raise InputError("bad search query: NOT needs a term to narrow (a NOT b)")
        for child in positive:
            _check_positive(child)
        for child in node.children:
            if isinstance(child, Node) and child.op == "NOT":
                _check_negatable(child.children[0])
        return
    for child in node.children:
        _check_positive(child)


def _check_negatable(node: Query) -> None:
    if isinstance(node, Node) and node.op == "NOT":
        raise InputError("bad search query: NOT NOT is not supported")
    if isinstance(node, Node):
        _check_positive(node)


def terms(node: Query) -> list[Term]:
    """The positive terms (for marking matches in snippets)."""
    if isinstance(node, Term):
        return [node]
    if node.op == "NOT":
        return []
    return [t for child in node.children for t in terms(child)]


# -- SQLite FTS5 ----------------------------------------------------------------------------
def _fts_quote(token: str) -> str:
    return '"' + token.replace('"', '""') + '"'


def to_fts5(node: Query) -> str:
    if isinstance(node, Term):
        body = " ".join(_fts_quote(w) for w in node.words)
        if len(node.words) > 1:
            body = f"({_fts_quote(' '.join(node.words))}{' *' if node.prefix else ''})"
            return body
        return body + (" *" if node.prefix else "")
    if node.op == "OR":
        return "(" + " OR ".join(to_fts5(c) for c in node.children) + ")"
    positive = [c for c in node.children if not (isinstance(c, Node) and c.op == "NOT")]
    negative = [c.children[0] for c in node.children if isinstance(c, Node) and c.op == "NOT"]
    out = "(" + " AND ".join(to_fts5(c) for c in positive) + ")"
    for child in negative:
        out = f"({out} NOT {to_fts5(child)})"
    return out


# -- PostgreSQL tsquery -----------------------------------------------------------------------
def _ts_quote(token: str) -> str:
    return "'" + token.replace("\\", "\\\\").replace("'", "''") + "'"


def to_tsquery(node: Query) -> str:
    """A tsquery literal (cast with ``CAST(:q AS tsquery)``: no parser, no stemming)."""
    if isinstance(node, Term):
        lexemes = [_ts_quote(w) for w in node.words]
        if node.prefix:
            lexemes[-1] += ":*"
        return "(" + " <-> ".join(lexemes) + ")"
    if node.op == "NOT":
        return "!" + to_tsquery(node.children[0])
    joiner = " | " if node.op == "OR" else " & "
    return "(" + joiner.join(to_tsquery(c) for c in node.children) + ")"
