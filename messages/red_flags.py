"""Red flags in a patient's own words: the vocabulary each texts file carries, and the matcher.

A texts file's ``[red_flags]`` table lists, under a name per kind of worry (``blisters``, ``fever``…),
the words and phrases that raise it; its ``negations`` list says what, written directly before a
term, means the patient does *not* have it. The grammar of a term, kept small so a clinic can edit it:

- ``blisters``: a word, matched whole; ``blister*``: any word that begins so (blister, blistering);
- ``yellow crust*``: words in a row, in one clause;
- ``pus|oozing``: any of these;
- ``burn* & worse|more and more``: each part somewhere in the same sentence, in any order.

Both sides are normalised the same way: case folded, accents stripped, apostrophes dropped, and a
letter repeated in a row counted once (``swolllen`` = ``swollen`` = ``swolen``, ``fiebreee`` = ``fiebre``).
A number counts by its whole part (``38.5`` and ``38,5`` are ``38``).

Negation, on purpose simple: a part does not count where a negation (``no``, ``sin``, ``no tengo``…)
stands *directly* before it in the same clause (no comma, colon, dash or bracket between). So ``no
blisters at all`` and ``sin ampollas`` do not match, while ``no, there are blisters`` and ``no pain but
blisters`` do. Anything further away (``I don't think it is infected``) is not read as a negation:
the matcher errs towards caution, and a staff member reads what it raised. It never diagnoses: a match
only routes the message to people, as the *I'm worried* button does.

Imports nothing of ours but the file error, like the rest of ``messages/``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from messages.errors import MessageFileError

SECTION = "red_flags"
NEGATIONS = "negations"
# A number (with its decimal point or comma), a run of letters, or a mark that ends a clause or a sentence.
_TOKEN = re.compile(r"\d+(?:[.,]\d+)*|[^\W\d_]+|[.!?;¡¿\n]|[,:()\u2013\u2014\"«»]")
_SENTENCE_END = frozenset(".!?;¡¿\n")
_APOSTROPHES = str.maketrans("", "", "'\u2019\u2018`\u00b4")
_REPEATS = re.compile(r"(.)\1+")
_TERM_WORD = re.compile(r"^[^\W_]+\*?$")


def _fold(text: str) -> str:
    """Case folded, accents stripped (ñ -> n, á -> a), apostrophes dropped."""
    decomposed = unicodedata.normalize("NFKD", text.casefold().translate(_APOSTROPHES))
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def _squeeze(word: str) -> str:
    """A letter repeated in a row counts once: "soooo", "swolllen", "fiebreee"."""
    return _REPEATS.sub(r"\1", word)


@dataclass(frozen=True)
class _Word:
    """One word of the text: its squeezed form and the clause and sentence it stands in."""

    text: str
    clause: int
    sentence: int


def words_of(text: str) -> list[_Word]:
    """The text as normalised words, each knowing its clause and sentence."""
    words: list[_Word] = []
    clause = sentence = 0
    for token in _TOKEN.findall(_fold(text)):
        if token in _SENTENCE_END:
            clause, sentence = clause + 1, sentence + 1
        elif not token[0].isalnum():
            clause += 1
        elif token[0].isdigit():
            # "38.5" and "38,5" are both 38 to a term: a fever is written with or without its decimal.
            words.append(_Word(re.split(r"[.,]", token)[0], clause, sentence))
        else:
            words.append(_Word(_squeeze(token), clause, sentence))
    return words


@dataclass(frozen=True)
class Pattern:
    """One word of a term: matched whole, or as the start of a word when it ended in ``*``."""

    text: str
    prefix: bool

    def matches(self, word: str) -> bool:
        return word.startswith(self.text) if self.prefix else word == self.text


Phrase = tuple[Pattern, ...]


def _phrase_at(phrase: Phrase, words: list[_Word], start: int) -> bool:
    """Whether ``phrase`` is at ``start``, all in one clause."""
    if start < 0 or start + len(phrase) > len(words):
        return False
    clause = words[start].clause
    return all(words[start + offset].clause == clause and pattern.matches(words[start + offset].text)
               for offset, pattern in enumerate(phrase))


@dataclass(frozen=True)
class Term:
    """One entry of the vocabulary: its parts (each a set of alternative phrases), under a flag's name."""

    flag: str
    source: str
    parts: tuple[tuple[Phrase, ...], ...]


@dataclass(frozen=True)
class Vocabulary:
    """A language's red-flag terms and negations."""

    locale: str
    terms: tuple[Term, ...]
    negations: tuple[Phrase, ...] = ()

    def _negated(self, words: list[_Word], start: int) -> bool:
        clause = words[start].clause
        for negation in self.negations:
            begin = start - len(negation)
            if begin >= 0 and words[begin].clause == clause and _phrase_at(negation, words, begin):
                return True
        return False

    def _found(self, alternatives: tuple[Phrase, ...], words: list[_Word], indexes: range) -> bool:
        return any(_phrase_at(phrase, words, start) and not self._negated(words, start)
                   for start in indexes for phrase in alternatives)

    def flags(self, text: str) -> list[str]:
        """The names of the flags ``text`` raises (empty: none), in the vocabulary's order."""
        words = words_of(text)
        found: list[str] = []
        sentences: dict[int, range] = {}
        for index, word in enumerate(words):
            first = sentences.get(word.sentence, range(index, index)).start
            sentences[word.sentence] = range(first, index + 1)
        for term in self.terms:
            if term.flag in found:
                continue
            if any(all(self._found(part, words, span) for part in term.parts) for span in sentences.values()):
                found.append(term.flag)
        return found


@dataclass(frozen=True)
class RedFlags:
    """Every language's vocabulary: a message is read against all of them, whatever the patient's language
    (a Spanish speaker set to English still writes "ampollas"), and raises a flag if any matches. Built by
    :func:`red_flags`, which gives each vocabulary every language's negations."""

    vocabularies: tuple[Vocabulary, ...]

    def flags(self, text: str) -> list[str]:
        """The flags any vocabulary finds in ``text`` (empty: none)."""
        found: list[str] = []
        for vocabulary in self.vocabularies:
            found.extend(flag for flag in vocabulary.flags(text) if flag not in found)
        return found


# --------------------------------------------------------------------------- reading the texts file


def _phrase(text: str) -> Phrase:
    """``yellow crust*`` as patterns; ValueError naming what is wrong."""
    words = _fold(text).replace("-", " ").split()
    if not words:
        raise ValueError("an empty alternative (two | in a row, or | at an end)")
    patterns = []
    for word in words:
        if not _TERM_WORD.match(word):
            raise ValueError(f"{word!r}: use letters and digits, with * only at the end of a word "
                             "(write phrases as words separated by spaces)")
        prefix = word.endswith("*")
        stem = word.rstrip("*")
        stem = stem if stem.isdigit() else _squeeze(stem)
        if prefix and len(stem) < 3:
            raise ValueError(f"{word!r}: a word ending in * needs at least 3 letters before it")
        patterns.append(Pattern(stem, prefix))
    return tuple(patterns)


def parse_term(flag: str, source: str) -> Term:
    """One term as a clinic writes it (``burn* & worse|more and more``); ValueError if it cannot be read."""
    parts = []
    for part in source.split("&"):
        if not part.strip():
            raise ValueError(f"{source!r}: an empty part (& at an end, or two in a row)")
        parts.append(tuple(_phrase(alternative) for alternative in part.split("|")))
    return Term(flag, source, tuple(parts))


def _strings(path: Path, key: str, value: object) -> list[str]:
    if not isinstance(value, list) or not value:
        raise MessageFileError(path, f"[{SECTION}] {key}", 'must be a list of words or phrases, such as ["pus", '
                               '"yellow crust*"]')
    for entry in value:
        if not isinstance(entry, str) or not entry.strip():
            raise MessageFileError(path, f"[{SECTION}] {key}", "every entry must be a non-empty text in quotes")
    return value


def read_vocabulary(path: Path, locale: str, table: object) -> Vocabulary:
    """The ``[red_flags]`` table of ``path`` as a vocabulary; MessageFileError naming the key if malformed."""
    if not isinstance(table, Mapping):
        raise MessageFileError(path, f"[{SECTION}]", "must be a table of word lists")
    terms: list[Term] = []
    negations: list[Phrase] = []
    for key, value in table.items():
        for entry in _strings(path, key, value):
            try:
                if key == NEGATIONS:
                    if "&" in entry or "|" in entry:
                        raise ValueError(f"{entry!r}: a negation is a word or words in a row, without & or |")
                    negations.append(_phrase(entry))
                else:
                    terms.append(parse_term(key, entry))
            except ValueError as exc:
                raise MessageFileError(path, f"[{SECTION}] {key}", str(exc)) from None
    if not terms:
        raise MessageFileError(path, f"[{SECTION}]", "lists no red flags: at least one list of words is needed")
    return Vocabulary(locale, tuple(terms), tuple(negations))


def red_flags(vocabularies: Iterable[Vocabulary]) -> RedFlags:
    """The matcher over these vocabularies, each with every language's negations: read against an English
    term, "sin fiebre ni pus" is as negated as it is against the Spanish one."""
    vocabularies = tuple(vocabularies)
    negations = tuple(dict.fromkeys(n for vocabulary in vocabularies for n in vocabulary.negations))
    return RedFlags(tuple(Vocabulary(v.locale, v.terms, negations) for v in vocabularies))
