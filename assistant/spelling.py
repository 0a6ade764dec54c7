"""Names as the transcript hears them.

An episode's written analysis spells a guest's name right ("Sholto Douglas"); its transcript, and so
every entity window and quote cut from it, writes what speech recognition heard ("Shulta Douglas").
People type the name as they read it, so "what does sholto work on?" found nothing the speakers said
of him: its best dense similarity was 0.22 and it was refused as off topic, while "what does Shulta
work on?" scores 0.45 and finds "Shulta is scaling RL, Trenton's still working on Mechanistic
Interpretability". ``as_spoken`` searches the question with such names in the transcript's spelling.

A word is respelled only when the episode writes it as a name (so it is no typo, unknown name or
common word: "paper" sounds like "Piper" too), the speech never writes it as one, and a name the speech
does write sounds like it (``sounds_like``).

    >>> from assistant.refusal import Lexicon
    >>> lex = Lexicon(["With Sholto Douglas.", "Today Shulta is scaling RL, says Shulta."],
    ...               prose=["Today Shulta is scaling RL, says Shulta."])
    >>> as_spoken("what's sholto's background?", lex), as_spoken("what is RL scaling?", lex)
    ("what's Shulta's background?", 'what is RL scaling?')
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

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


def as_spoken(question: str, lex: Lexicon | None) -> str:
    """``question`` with its names in the transcript's spelling (see the module docstring). A
    follow-up's ``Standalone`` stays one, with what was typed respelled alike; any other question becomes
    one that remembers it as typed (the retriever searches both)."""
    if lex is None:
        return question

    def respell(text: str) -> str:
        return _LETTERS.sub(lambda m: heard_as(m.group(0), lex) or m.group(0), text)

    spoken = respell(str(question))
    if spoken == str(question):
        return question
    if isinstance(question, followup.Standalone):
        return followup.Standalone(spoken, respell(question.typed), question.earlier)
    # searched beside the question as typed, whose spelling finds the written analysis ("Sholto Douglas
    # and Trenton Bricken (both now at Anthropic) revisiting their predictions from ... (2024)")
    return followup.Standalone(spoken, question)
