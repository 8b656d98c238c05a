"""Text normalisation for comparing component members ("The Red Circles" == "red circle").

The steps, in order (:func:`normalize_phrase`):

1. Unicode NFKC, lowercase.
2. Split on whitespace; strip punctuation from both ends of each token (``"circle,"`` -> ``"circle"``); drop empty
   tokens. Inner punctuation is kept (``"top-left"``, ``"#ff0000"``).
3. Drop the articles ``a``, ``an``, ``the``.
4. Naive plural stripping per token (:func:`singularize`): ``-ies`` -> ``-y``, ``-xes/-ches/-shes/-sses/-zes`` ->
   drop ``-es``, else a final ``-s`` is dropped unless the word ends in ``-ss``, ``-us`` or ``-is``; words of three
   letters or fewer are left alone. It is deliberately naive (``"canvas"`` -> ``"canva"``): it only has to map both
   sides of a comparison the same way.
5. Optional synonym map, applied to the normalised tokens, longest multi-word key first, left to right, in one
   pass (keys and values are normalised by steps 1-4 first, so ``{"Crimson": "red"}`` works). Chains such as
   ``{"a": "b", "b": "c"}`` are not followed.

Without synonyms the normalisation is idempotent.
"""

from __future__ import annotations

import string
import unicodedata
from collections.abc import Iterable, Mapping

__all__ = ["ARTICLES", "normalize_phrase", "normalize_members", "singularize", "prepare_synonyms"]

ARTICLES = frozenset({"a", "an", "the"})
_PUNCT = string.punctuation + "\u2018\u2019\u201c\u201d"

Synonyms = Mapping[str, str]
_Prepared = dict[tuple[str, ...], tuple[str, ...]]


def singularize(word: str) -> str:
    """Naive English plural stripping of one lowercase token.

    >>> [singularize(w) for w in ["circles", "boxes", "berries", "glasses", "bus", "red", "stars"]]
    ['circle', 'box', 'berry', 'glass', 'bus', 'red', 'star']
    """
    if len(word) <= 3 or not word.isalpha():
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("xes", "ches", "shes", "sses", "zes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def _tokens(text: str) -> list[str]:
    text = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).lower())
    out = []
    for raw in text.split():
        token = singularize(raw.strip(_PUNCT))
        if token and token not in ARTICLES:
            out.append(token)
    return out


def prepare_synonyms(synonyms: Synonyms | None) -> _Prepared:
    """Normalise a synonym map's keys and values into token tuples (done once per call of a reward).

    Raises ``ValueError`` if a key or value is not a ``str`` or a key normalises to nothing (e.g. ``"the"``).

    >>> prepare_synonyms({"Crimson": "red", "light blues": "cyan"})
    {('crimson',): ('red',), ('light', 'blue'): ('cyan',)}
    """
    if synonyms is None:
        return {}
    if not isinstance(synonyms, Mapping):
        raise ValueError(f"synonyms must be a mapping {{word: replacement}}, got {type(synonyms).__name__}")
    prepared: _Prepared = {}
    for key, value in synonyms.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise ValueError(f"synonyms must map str to str, got {key!r}: {value!r}")
        key_tokens = tuple(_tokens(key))
        if not key_tokens:
            raise ValueError(f"synonym key {key!r} is empty after normalisation (articles and punctuation are dropped)")
        prepared[key_tokens] = tuple(_tokens(value))
    return prepared


def _apply_synonyms(tokens: list[str], prepared: _Prepared) -> list[str]:
    if not prepared:
        return tokens
    lengths = sorted({len(k) for k in prepared}, reverse=True)
    out: list[str] = []
    i = 0
    while i < len(tokens):
        for n in lengths:
            key = tuple(tokens[i : i + n])
            if len(key) == n and key in prepared:
                out.extend(prepared[key])
                i += n
                break
        else:
            out.append(tokens[i])
            i += 1
    return out


def normalize_phrase(text: str, synonyms: Synonyms | None = None, *, _prepared: _Prepared | None = None) -> str:
    """Normalise one member phrase (see the module docstring for the steps).

    Args:
        text: any ``str``.
        synonyms: optional ``{word_or_phrase: replacement}``, e.g. ``{"crimson": "red"}``.

    Returns:
        The normalised phrase, tokens joined by single spaces; ``""`` if nothing is left.

    >>> normalize_phrase("  The  Small Red CIRCLES, ")
    'small red circle'
    >>> normalize_phrase("a crimson box", {"crimson": "red"})
    'red box'
    >>> normalize_phrase("the")
    ''
    """
    if not isinstance(text, str):
        raise ValueError(f"expected a str phrase, got {type(text).__name__}: {text!r}")
    prepared = prepare_synonyms(synonyms) if _prepared is None else _prepared
    return " ".join(_apply_synonyms(_tokens(text), prepared))


def normalize_members(
    members: Iterable[str], synonyms: Synonyms | None = None, *, _prepared: _Prepared | None = None
) -> frozenset[str]:
    """Normalise each member and return the set of non-empty results (duplicates collapse).

    >>> sorted(normalize_members(["the red circle", "Red circles", "the"]))
    ['red circle']
    """
    prepared = prepare_synonyms(synonyms) if _prepared is None else _prepared
    out = set()
    for member in members:
        norm = normalize_phrase(member, _prepared=prepared)
        if norm:
            out.add(norm)
    return frozenset(out)
