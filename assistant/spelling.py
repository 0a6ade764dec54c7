"""The question in the episode's spelling, for search: names as the transcript hears them, typos
as the episode writes the word.

An episode's written analysis spells a guest's name right ("Sholto Douglas"); its transcript, and so
every entity window and quote cut from it, writes what speech recognition heard ("Shulta Douglas").
People type the name as they read it, so "what does sholto work on?" found nothing the speakers said
of him: its best dense similarity was 0.22 and it was refused as off topic, while "what does Shulta
work on?" scores 0.45 and finds "Shulta is scaling RL, Trenton's still working on Mechanistic
Interpretability". A word is respelled so only when the episode writes it as a name (so it is no typo,
unknown name or common word: "paper" sounds like "Piper" too), the speech never writes it as one, and
a name the speech does write sounds like it (``sounds_like``).

People also type with typos, and a typo costs the search more than the refusal rules (which forgive
one): "what do they say about aligment faking?" has a best cosine of 0.44, "alignment" 0.72. A word
neither the episode nor English knows (pyspellchecker's dictionary) is taken as the one episode word
it is a one-letter typo of, if there is exactly one. English words stay: "verified" is one edit from the
episode's "verifier", "computing" from "competing".

A question with a typo is searched, judged, answered and shown corrected (``typos_corrected``): the
typo searched beside it only adds noise. A name is searched as heard and as typed
(``followup.Standalone``: the written analysis's spelling finds the summary) and answered as typed
(``as_heard``).

    >>> from assistant.refusal import Lexicon
    >>> lex = Lexicon(["With Sholto Douglas.", "Today Shulta is scaling RL, says Shulta. Alignment faking."],
    ...               prose=["Today Shulta is scaling RL, says Shulta. Alignment faking."])
    >>> as_heard("what's sholto's background?", lex), as_heard("what is RL scaling?", lex)
    ("what's Shulta's background?", 'what is RL scaling?')
    >>> typos_corrected("what about aligment faking?", lex)
    'what about alignment faking?'
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from spellchecker import SpellChecker

from . import followup
from .text import edit_distance

if TYPE_CHECKING:
    from .refusal import Lexicon

MIN_NAME_LETTERS = 5  # shorter names sound like too many words ("noam" / "neam", "rl" / "rm")
_LETTERS = re.compile(r"[A-Za-z]+")


def sounds_like(asked: str, name: str) -> bool:
    """A name as a transcript may write it: the same first letter, within one edit per three letters.

    >>> sounds_like("sholto", "shulta"), sounds_like("trenton", "trenton"), sounds_like("noam", "neam")
    (True, True, False)
    """
    if asked == name:
        return True
    if asked[:1] != name[:1] or len(asked) < MIN_NAME_LETTERS or abs(len(asked) - len(name)) > 1:
        return False
    return edit_distance(asked, name, len(asked) // 3) <= len(asked) // 3


def heard_as(word: str, lex: Lexicon) -> str | None:
    """The transcript's spelling of ``word`` when the episode writes it but the speech hears it as
    another name; None otherwise."""
    low = word.lower()
    if len(low) < MIN_NAME_LETTERS or low in lex.names or low not in lex.written_names:
        return None
    heard = [n for n in lex.names if n != low and sounds_like(low, n)]
    if not heard:
        return None
    best = min(heard, key=lambda n: (edit_distance(low, n, len(low)), n))
    return lex.spell(best)


_english = None
_english_lock = threading.Lock()


def english() -> SpellChecker:
    """An English dictionary (pyspellchecker's, 160k words), loaded on first use (~0.5 s, ~35 MB)."""
    global _english
    with _english_lock:
        if _english is None:
            _english = SpellChecker(language="en", distance=1)
        return _english


def corrected(word: str, lex: Lexicon) -> str | None:
    """The episode's spelling of a word it does not write and English does not know, when exactly one
    word of the episode is a one-letter typo of it (``Lexicon.variants``: a letter missing, extra, wrong
    or two swapped: "aligment", "abuot"); None otherwise. A real word is
    never corrected: "verified" is one edit from the episode's "verifier", "precious" from "previous"."""
    low = word.lower()
    if len(low) < MIN_NAME_LETTERS or low in lex.words or (low.endswith("s") and low[:-1] in lex.words):
        return None
    found = lex.variants(low)
    if len(found) > 1:  # "compuer": "computer" is one edit away, "compute" two (the lexicon's test is looser)
        found = [w for w in found if w in (english().candidates(low) or ())]
    if len(found) != 1 or " " in found[0] or abs(len(found[0]) - len(low)) > 1:
        return None  # none, ambiguous, a compound or an abbreviation ("vocab"): as typed
    return None if low in english() else found[0]


def _respelled(question: str, word: Callable[[str], str | None], keep_typed: bool) -> str:
    """``question`` with each word respelled by ``word`` (None: as it is). A follow-up's ``Standalone``
    stays one, with what was typed respelled alike; any other changed question becomes one that
    remembers it as typed (the retriever searches both) if ``keep_typed``."""

    def respell(text: str) -> str:
        return _LETTERS.sub(lambda m: word(m.group(0)) or m.group(0), text)

    changed = respell(str(question))
    if changed == str(question):
        return question
    if isinstance(question, followup.Standalone):
        return followup.Standalone(changed, respell(question.typed), question.earlier, question.subject)
    return followup.Standalone(changed, question) if keep_typed else changed


def typos_corrected(question: str, lex: Lexicon | None) -> str:
    """``question`` with its typos in the episode's spelling (``corrected``): what is searched, judged
    and answered, and shown as the standalone question."""
    return question if lex is None else _respelled(question, lambda w: corrected(w, lex), keep_typed=False)


def for_search(question: str, lex: Lexicon | None) -> tuple[str, str]:
    """(the question with its typos corrected: judged, answered and shown; the same with its names as
    heard too: searched) -- what the chain and the eval's rankings both do to a standalone question."""
    corrected = typos_corrected(question, lex)
    return corrected, as_heard(corrected, lex)


def as_heard(question: str, lex: Lexicon | None) -> str:
    """``question`` with its names as the transcript hears them (``heard_as``): what is searched. It is
    answered as asked: the written analysis's spelling finds the summary among the sources ("Sholto
    Douglas and Trenton Bricken (both now at Anthropic) revisiting their predictions from ... (2024)")."""
    return question if lex is None else _respelled(question, lambda w: heard_as(w, lex), keep_typed=True)
