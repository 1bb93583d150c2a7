"""A short piece of the original text around the first match, with the matches located.

Matching runs on the folded tokens of the original text, so a snippet marks exactly the
words the index matched (ё found by е, any case), whatever the backend.
"""

from __future__ import annotations

from dataclasses import dataclass

from preservation.search.query import Term
from preservation.search.text import words

SCAN_CHARS = 200_000


@dataclass
class Snippet:
    text: str
    marks: list[tuple[int, int]]  # [start, end) offsets of matched words in ``text``

    def marked(self, before: str = "[", after: str = "]") -> str:
        out, pos = [], 0
        for start, end in self.marks:
            out += [self.text[pos:start], before, self.text[start:end], after]
            pos = end
        out.append(self.text[pos:])
        return "".join(out)


def _matches(found: list[tuple[int, int, str]], terms: list[Term]) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    tokens = [t for _, _, t in found]
    for i in range(len(tokens)):
        for term in terms:
            n = len(term.words)
            window = tokens[i : i + n]
            if len(window) < n or window[:-1] != list(term.words[:-1]):
                continue
            last = window[-1]
            if last == term.words[-1] or (term.prefix and last.startswith(term.words[-1])):
                spans.append((found[i][0], found[i + n - 1][1]))
                break
    return spans


def make_snippet(text: str, terms: list[Term], width: int = 200) -> Snippet:
    scanned = text[:SCAN_CHARS]
    spans = _matches(list(words(scanned)), terms)
    if not spans:
        piece = text[:width]
        return Snippet(" ".join(piece.split()) + ("…" if len(text) > width else ""), [])
    first = spans[0][0]
    start = max(0, first - width // 3)
    if start:  # begin at a word boundary
        space = scanned.rfind(" ", 0, start)
        start = space + 1 if space >= 0 and first - space < width else start
    end = min(len(text), start + width)
    prefix = "…" if start else ""
    suffix = "…" if end < len(text) else ""
    marks = [(prefix_len := len(prefix)) + s - start for s, _ in spans if start <= s and _ <= end]
    ends = [prefix_len + e - start for s, e in spans if start <= s and e <= end]
    piece = prefix + text[start:end].replace("\n", " ") + suffix
    return Snippet(piece, list(zip(marks, ends, strict=True)))
