"""One normaliser for index and query time: the same word always folds to the same token.

Folding: Unicode NFKC, case folding, Russian ё → е; Belarusian і and ў and Russian й stay
letters of their own (no diacritic stripping: ў is not у, й is not и). A Latin ``i``
inside an otherwise Cyrillic word is the Belarusian і typed on a Latin layout and folds to
і; apostrophes inside words (Belarusian з'езд, English don't) are dropped, so every
spelling of the word gives one token. Tokens are runs of letters and digits.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator

_WORD = re.compile(r"[^\W_]+(?:['’ʼ`][^\W_]+)*")
_NON_WORD = re.compile(r"[\W_]+")
_CYRILLIC = re.compile(r"[\u0400-\u04ff]")
_FOLD = str.maketrans({"ё": "е", "ѐ": "е"})
#: Longer tokens are cut: nobody searches for them, and they bloat the index.
MAX_TOKEN = 64


def fold_token(word: str) -> str:
    """One word (as the tokeniser found it) → its index token."""
    token = unicodedata.normalize("NFKC", word).casefold().translate(_FOLD)
    token = _NON_WORD.sub("", token)  # apostrophes, and what NFKC made of odd characters
    if "i" in token and _CYRILLIC.search(token):
        token = token.replace("i", "і")
    return token[:MAX_TOKEN]


def words(text: str) -> Iterator[tuple[int, int, str]]:
    """Every word of ``text`` with its start and end offsets and its folded token."""
    for match in _WORD.finditer(text):
        token = fold_token(match.group())
        if token:
            yield match.start(), match.end(), token


_JOINED_APOSTROPHE = re.compile(r"(?<=[^\W_])['’ʼ`](?=[^\W_])")
_WORDS = re.compile(r"\w+")  # on text without underscores: the runs of [^\W_]


def tokens(text: str) -> list[str]:
    """The folded tokens of ``text``: ``fold_token`` applied to the whole text at once.

    Same result as folding ``words(text)`` one by one (the index's hot path: a million
    messages), except where NFKC turns one character into several words.
    """
    folded = unicodedata.normalize("NFKC", text).casefold().replace("ё", "е")
    if "ѐ" in folded:
        folded = folded.replace("ѐ", "е")
    if "'" in folded or "’" in folded or "ʼ" in folded or "`" in folded:
        folded = _JOINED_APOSTROPHE.sub("", folded)
    if "_" in folded:  # \w counts the underscore as a letter; the tokeniser does not
        folded = folded.replace("_", " ")
    out = _WORDS.findall(folded)
    if not out:
        return out
    if max(map(len, out)) > MAX_TOKEN:
        out = [token[:MAX_TOKEN] for token in out]
    if "i" in folded and not folded.isascii() and _CYRILLIC.search(folded):
        out = [t.replace("i", "і") if "i" in t and _CYRILLIC.search(t) else t for t in out]
    return out


def normalised(text: str) -> str:
    """The text as the index stores it: folded tokens separated by single spaces."""
    return " ".join(tokens(text))
