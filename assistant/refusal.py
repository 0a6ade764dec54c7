"""Refusal is decided from retrieval and the episode's own words, before any answer is composed or
any model is asked. Two questions are asked of every question:

1. *Is it about the episode at all?* The best dense cosine similarity between the question and any
   chunk in scope (all-MiniLM-L6-v2). Below ``refusal_threshold`` -> ``reason="off_topic"`` -- unless it
   is less than ``RESCUE_MARGIN`` below and one chunk holds every content word of the question (two or
   more): terse questions in the episode's jargon embed far from its sentences ("oceans 11 analogy?").
   Such a question then goes through the checks below like any other.
2. *Is what it asks for actually in the sources?* (``refusal_not_stated``) -> ``reason="not_stated"``:

   - **absent name**: the question names something specific -- a model version or other term with
     digits ("grok 3", "v3", "2030"), a word the user capitalised or wrote in capitals mid-sentence
     ("EU", "Stargate", "METR") -- that occurs nowhere in the episode.
     Matching forgives case, plurals, stemming, hyphens ("pretraining" = "pre-training") and a one-
     letter typo of a word of 5+ letters with the same first letter ("windwo" = "window").
   - **factoid with an absent word**: the question asks for a figure, a date, a person or a place
     ("how many", "how much does X cost", "what percent", "when", "who", "where", "which city") and one
     of its own content words occurs nowhere in the episode ("Which city was this *recorded* in?").
     For open questions an absent word is usually a paraphrase ("flaky", "gist"), which retrieval
     absorbs; a factoid cannot be answered without the thing it is about.
   - **absent topic** (third pass, below): "did they talk about X?", "what do they think of X?" and
     at least half of X's content words occur nowhere in the episode ("elon musk", "crypto").
   - **figure not stated**: the question asks for a figure (count, amount, percentage, date,
     duration, age) and no sentence of the top ``refusal_sources`` sources holds one of that kind together
     with the measured thing ("how many *parameters*") while its source also names every episode
     name in the question ("Claude", "Sonnet"; of three or more, all but one). "How much would Scale
     AI's revenue be" finds "Scale AI's revenue would be $10 billion" (but Scale AI's *actual* revenue
     is not a supposed one); "What is Anthropic's annual revenue" finds no sentence with
     Anthropic, revenue and an amount. Only the names the follow-up itself uses must stand beside the
     figure (an earlier question's "RL" is context), and a name matches as a transcript mishears it
     ("geogessor" for GeoGuessr: one edit at 5+ letters, two at 8+). When the question writes a word
     otherwise than the episode (an abbreviation, a typo, a compound as one word: "vocab" for
     "vocabulary"), search cannot match it and the sources may all miss the figure, so the best
     ``FIGURE_LOOKUPS`` chunks holding the measured thing (and the names) in the episode's spelling are
     read too.

Chosen on the ``tune`` half of eval/questions.yaml only (2026-11-26, bundled episode, extractive
answerer, questions refused out of 31 unanswerable / 48 answerable):

==============================================  ============  ==========
signals                                          unanswerable  answerable
==============================================  ============  ==========
dense threshold 0.335 alone (before)             6             0 [#]_
+ any content word absent from the episode       19            13
+ absent word only when dense < 0.41             14            3
+ absent name                                    11            0
+ absent name + factoid word                     19            0
+ absent name + figure not stated                23            1
+ absent name + factoid word + figure (kept)     27            1
==============================================  ============  ==========

.. [#] 1 before the follow-up rewrite learnt "them" ("which companies use them?" scored 0.311).

The ``test`` half, scored once with these rules: 26/30 unanswerable and 5/48 answerable refused.
Its five false refusals showed three rules that did not generalise, fixed on principle and checked
on tune (unchanged there): a lower-case hyphenated compound is no name ("hand-craft" is a
paraphrase, "O-series" names O1 and O3); a name written in capitals must match as a name, not as
the start of a longer word ("METR" is not "metrics"); "according to them" is framing. After that:
test 27/30 unanswerable (90%), 2/48 answerable (4.2%: "what hz do robot motor policies run at?",
refused by the dense threshold before this change too, and "How many GPUs will there be by then?",
whose source says "H100 equivalents", not GPUs).

What did not work (tune): a plain "absent word" rule refuses paraphrases (13 of 48 answerable
questions use a word the episode never does: "flaky", "surfacing", "gist", "recap"); judging a
missing word by its MiniLM similarity to the episode's vocabulary does not separate the two groups
(paraphrases 0.42-0.76, absent concepts 0.46-0.70: "recipe" is 0.63 from "baked", "alphafold" 0.69
from "alphago"); nor does the change in best dense similarity when the missing word is dropped
(answerable -0.04..+0.05, unanswerable -0.07..+0.17); nor rarity by the MiniLM WordPiece vocabulary
("host", "city", "odds" are whole words of it, "flaky", "gist" are not). A figure looked for in the
top 8 sources instead of 5 caught one unanswerable less (3: same as 5). The bundled 1.5B model as a
one-call yes/no judge over the top 5 sources said "no" to 1 of the first 10 answerable tune
questions (10% false refusals, against a 3% budget) and took 20-49 s per call on the shared
2-core machine (~5 s idle), so it was stopped there and not kept.

Second pass (2026-11-26, later), on tune and on a scratch set of 50 new questions written for it (28
answerable details -- figures, abbreviations, terse jargon -- and 22 near-topic unanswerable ones),
unanswerable / answerable refused out of 31 / 48 (tune) and 22 / 28 (scratch), follow-ups searched
beside their typed words throughout:

===================================================================  ===========  ===========
rules                                                                 tune         scratch
===================================================================  ===========  ===========
first pass                                                            27 / 1       17 / 5
+ figure check: names from the follow-up's own words                  27 / 1       17 / 5
+ lookup of the measured thing when a word is respelled               27 / 0       17 / 5
+ names as a transcript mishears them                                 27 / 0       17 / 4
+ words together in one chunk just under the threshold (kept: all)    27 / 0       17 / 3
  lookup whatever the spelling (not kept: "how many *people* work     27 / 0       16 / 3
  on interpretability" meets "not enough people")
===================================================================  ===========  ===========

The own-words names matter with follow-ups searched by their typed words too: the issue's "by when do
they expect that for coding agents?" was refused once "RL", from the earlier question, had to stand
beside "by the end of this year". ``FIGURE_LOOKUPS`` 1, 3 and 5 score the same. A synonym remains a
miss ("how many *chips* by 2028?" against "H100 equivalents"): the measured word's MiniLM similarity to
the figure sentences' words does not separate (chips/wafer 0.36 for that answerable one; gpus/gpt 0.54,
employees/enterprises 0.51 for unanswerable ones); so does a common verb the episode puts otherwise
("what year might compute scaling *stop*": "continue beyond 2038").
The ``test`` half, scored once after this pass: 27/30 unanswerable and 2/48 answerable refused, as
before it (both false refusals are now ``not_stated``; before, one was ``off_topic``).

Third pass (2026-11-27): the tune half's misses are few, but questions typed afresh showed the usual
near-topic gap -- "did they talk about elon musk?", "what do they think about crypto?", "how old is
trenton?" were answered with loosely related quotes. Rules written on a scratch set of 45 new
questions (28 unanswerable, 17 answerable), then checked on fresh sets written before they were run:

   - **absent topic**: a question that asks what the episode says about a topic ("did they talk about
     X?", "what do they think of X?", "any thoughts on X?", "is X discussed?") and X has a word the
     episode never uses. The topic is what is asked about, not a paraphrase of it.
   - **age** ("how old") as a figure kind, and the event a "when" question dates ("released",
     "founded") as its measured thing, which must be in the sentence that dates it (not only in the
     source's description: "when was GPT-4 released?" found "release" there beside "the next few
     months").

=======================================  ========  =========  ========  =========  ==========
refused: unanswerable / answerable        tune      scratch    fresh     fresh 2    paraphrased
(questions: unanswerable / answerable)    31 / 48   28 / 17    20 / 17   15 / 12    0 / 25
=======================================  ========  =========  ========  =========  ==========
second pass                               27 / 0    7 / 0      10 / 0    8 / 0      - / 1
+ the rules, with "what about X?" and     27 / 0    19 / 0     15 / 0    15 / 0     -
  an absent attribute
+ the rules as first kept                 27 / 0    18 / 0     14 / 0    12 / 0     - / 9
+ half the topic's words absent (kept)    27 / 0    14 / 0     13 / 0    10 / 0     - / 1
=======================================  ========  =========  ========  =========  ==========

"fresh 2" was written after the rules were first kept, "paraphrased" after that: 25 answerable
topic questions in other words than the episode's ("looking inside the model's *head*", "*energy* or
power limits for datacenters", "the model planning its *rhymes* ahead"). One new word among the
episode's is usually such a paraphrase, so a topic is absent only when at least half of its content
words are ("elon musk", "crypto", "nvidia stock price", "ai in healthcare"). The one paraphrased
question still refused ("how soon ... a full *workday*?") is the factoid rule's, from the first pass.

Last, a blind set: 60 questions written by a helper who saw only the episode file, not this code
(30 near-topic unanswerable, 30 answerable in the user's own words), run once at this point -- 26/30
unanswerable and 5/30 answerable refused (second pass: 21/30 and 5/30). Its five false refusals were
all the older rules', and three showed principles they lacked, now followed (tune, scratch and fresh
sets unchanged):

- a framing word typed wrong is still framing ("acording to them"), and "reckon" is "think";
- a name that is the measured thing is matched as that, not required beside the figure as well
  ("how many H100-class GPUs": the figure is beside "H100"), and a hyphenated compound counts as one
  of the measured thing's two words;
- a topic question ("what do they say about how big vs small models handle languages?") asks what is
  said, so it is not checked for a figure.

After them: 26/30 and 2/30 ("when do they reckon a coding agent could handle a day of a junior *dev*'s
work?": "dev" is too short to read as an abbreviation; "how big was the compute *jump* from o1 to o3?":
a factoid with a paraphrase, the factoid rule's known weakness).

All five sets are in tests/data/refusal_probes.txt (93 unanswerable, 101 answerable; 63 and 3
refused after the third pass, 63 and 0 after the fourth), which the tests hold at no fewer than 60 and
no more than 2.

The ``test`` half, scored once with the first set of rules: 27/30 unanswerable (as before) and 5/48
answerable refused (2 before). Two rules made the three new false refusals and were removed whole, not
patched: an **absent attribute** ("<name>'s <word>" whose word the episode never uses: it fired on any
possessive, "the model's written-out reasoning", "OpenAI's O-series") and "what about X?" as a topic
question (a follow-up, "what about editing images in Photoshop?"). That choice was made on the test
half, so the test numbers after it are no longer a held-out measurement; the fresh sets are.

One more fix came from a test-half false refusal known since the second pass ("what hz do robot
motor policies run at?": "it never mentions hz"). It is a bug, not a threshold: ``_UNITS`` ("hz" ->
"hertz") was read by the figure check but not by ``absent_words``. Fixed as such (tune and probes
unchanged); the test half then refuses 1/48 answerable questions, a number that is not held out.

Fourth pass (2026-11-27, later), refused unanswerable / answerable out of 31 / 48 (tune) and 93 / 101
(the probes, on which both changes were read, so not held out):

=========================================================================  ========  ========
change                                                                      tune      probes
=========================================================================  ========  ========
third pass                                                                  27 / 0    63 / 3
+ names searched as the transcript hears them (``spelling``: "Shulta")      26 / 0    60 / 3
+ absent property (kept)                                                    27 / 0    61 / 3
+ a figure question's absent word refuses only if it is the measured thing  27 / 0    61 / 0
=========================================================================  ========  ========

- **names as the transcript hears them** is a retrieval fix ("what does sholto work on?" was refused
  as off topic, best cosine 0.22). It costs refusals that were accidents: "where is sholto originally
  from?", "is sholto australian?", "whats sholto's p(doom)", "what university did sholto go to?" were
  off topic only because his name found nothing. The figure check now reads the sound-alike as the
  name, which keeps "how old is sholto?" (twice) and "how many hours a week does sholto work?" refused.
- **absent property**: a yes/no question about something the episode names ("is *sholto*
  australian?", "do they use ppo or grpo for the *RL*?") whose other content words are at least half
  absent. Whether X is something the episode never mentions is not in the episode. It fired on no
  answerable question of tune or the probes (16 yes/no questions there name something).
- **a term asked to be explained** ("what is neuralese?", "what are sparse autoencoders?", "whats
  trenton's hometown"): the term (up to four words) is a topic like "did they talk about X?" -- at
  least half of its content words absent and it is not stated. Probes 61 -> 63 unanswerable, no
  answerable question of tune, the probes or the blind set refused.
- "how long until X?" asks when, not for a duration (the date figure check: "by the end of this year");
  "valued at" and "how much is a <product> subscription" ask for an amount.
- **the factoid rule, narrowed for figures**: all three answerable probes refused were a figure
  question with a paraphrase ("the compute *jump* from o1 to o3", "a full *workday*", "a junior
  *dev*'s work"). Such a word now refuses only when it is the measured thing ("Anthropic's latest
  *valuation*"); any other absent word is left to the figure check, which finds "10X" beside O1 and
  O3, and still refuses "Anthropic's *annual* revenue" (no amount beside Anthropic and revenue).
  Person and place questions have no figure check and keep the rule ("which *city* was this recorded
  in?").

A second blind set (/work/scratch/fresh7, 60 questions written the same way), run once on the code
before this pass and once after the changes above: 19 -> 17 of 30
unanswerable and 2 -> 1 of 30 answerable refused. Lost: "where did sholto work before he joined
anthropic" (refused before only because his name found nothing) and "what is scale ai's *actual*
annual revenue" (the narrowed factoid rule leaves "annual" to the figure check, which finds the
hypothetical "$10 billion"); gained: "how many *synapes* ...". Its "what is anthropic valued at right
now" then showed the money kind missing "valued at" (added: 18/30, no longer held out).

A blind set written by a helper from the episode file alone after the third pass (60 questions, many
about the guests personally: /work/scratch/fresh6, not committed), run once before these changes and
once after the first two: 15 -> 17 of 30 unanswerable and 7 -> 6 of 30 answerable refused; then read
to write the third change (4 of 30 after it), so that last number is not held out.

Fifth pass (2026-11-27, later), on the misses of the probes and the three blind sets (fresh6-8,
all read before): two principles, each with a plain statement of what is missing.

- **unsourced**: a question about something the episode names ("what's *trenton*'s phd thesis
  about?", "what does *kelsey piper* do for a living?", "did *sholto* talk about his time at google
  brain?") with two or more other content words, none of which any of the eight sources the answer
  would be composed from mentions. Search finds the name, so the answer would be about the name and not
  about what was asked. Measured on the candidates' sources: none of the eight holding any of those
  words separates 9 unanswerable questions from no answerable one (five sources: 10 and 1, "kids using
  ai for homework"; one such word alone: 3 and 1, "the golden gate bridge *version* of claude").
  Generic scores over all questions did not separate the two groups: the best sentence's cosine (0.45:
  29 unanswerable, 29 answerable below it) or the share of the question's words in one source.
- **the actual figure**: "what is Scale AI's *actual* revenue?" asks for the fact; a sentence that
  supposes a figure ("Otherwise, Scale AI's revenue *would be* $10 billion") no longer states it (three
  blind questions, all the same; no answerable figure question in the sets asks for an actual one).

=================================  ========  ==========  ========  ========  ========
refused: unanswerable / answerable  tune      probes      fresh6    fresh7    fresh8
(questions)                         31 / 48   93 / 101    30 / 30   30 / 30   30 / 50
=================================  ========  ==========  ========  ========  ========
fourth pass                         27 / 0    63 / 0      18 / 3    18 / 1    20 / 0
+ unsourced, actual figure          27 / 0    70 / 0      20 / 3    20 / 1    21 / 0
+ one of three names unsaid         27 / 0    70 / 0      20 / 2    20 / 1    21 / 0
=================================  ========  ==========  ========  ========  ========

- **absent subject**: a follow-up that points back ("is *it* dangerous?", "why?", "what does *he*
  think about AI?") at an earlier question about a topic or term the episode never names ("what is
  neuralese?", "did they talk about elon musk?") is not stated either; it was answered with whatever
  its own words found. Only the earlier question's topic or term counts: "Could models think in latent
  space instead of *English*?" (a tune follow-up's history) names an absent word but is about latent
  space. No single question of the sets above is a follow-up; tune's follow-ups are unchanged.
- **one of three names unsaid**: "how many features did *Anthropic* fit on Claude 3 Sonnet?" was
  refused because its source says "*our* Claude 3 Sonnet ... 30 million features". A figure's source
  must name every name of a question with one or two, all but one of three or more.

A blind set of 80 (/work/scratch/fresh9 on the machine it was written on: 40 unanswerable, 40
answerable, written by a helper from the episode file alone), run once on the fourth pass and once on
the fifth before anyone read it: 26 -> 27 of 40 unanswerable and 1 -> 1 of 40 answerable refused.
Read after that, it showed three phrasings the rules did not know, now followed (tune, probes, fresh6-8
answerable unchanged; fresh6 unanswerable 20 -> 21; fresh9 27 -> 29, no longer held out): "any
thoughts *from them* on X?" and a bare "thoughts on X?" ask after a topic; so does "does X come up?";
and "what year did trenton *join* anthropic" dates the joining, not any date beside his name.
Most of its misses repeat the earlier blind sets' (the future house drug's disease, Claude's feelings,
Sholto's work before Anthropic, Amazon's investment, video models like Sora): what the episode never
says about things it names, asked in words it mostly uses.

Known misses: an opinion the episode never gives about things it does name ("Do they think
open-sourcing frontier model weights is a good idea?"), a lower-case name outside a yes/no question
("amazon"), a "where" question with no check ("where is sholto originally from?"),
a name asked of a thing the episode has ("whats the name of this podcast"), and a figure sentence
about the right words but the wrong thing ("How many layers does Claude 3 Sonnet have?" meets "a
two-layer transformer to our Claude 3 Sonnet").

Cost: an episode's lexicon is built once per process and content (~0.03 s; a 1,000-episode store
pays ~30 s at its first question without an episode filter), a scope's union once per store
revision (~2 ms per episode); the suggestions' embeddings once per revision and scope.

    >>> lex = Lexicon(["Claude 3 Sonnet fit up to 30 million features.", "RL from pre-training, Grok."])
    >>> absent_names("do they think grok 3 is better than claude?", lex)
    ['grok 3']
    >>> absent_names("how many features in pretraining?", lex), lex.has("windwo"), lex.has("pretraining")
    ([], False, True)
    >>> answer_kind("How much does Lighthouse charge for a visa?"), answer_kind("Why does RL work?")
    ('money', None)
"""

from __future__ import annotations

import re
import threading
import weakref
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from vectorstore.filters import SearchFilter

from . import spelling
from .retriever import BM25Index, Hit, HybridRetriever, SearchResult
from .text import STOP_WORDS, _stem, among_names, edit_distance, tokenize

OFF_TOPIC, NOT_STATED = "off_topic", "not_stated"

# --- words ------------------------------------------------------------------------------------------
_WORD = re.compile(r"[a-z0-9]+(?:\.[0-9]+)?")
# a name followed by a version number: gpt-5, gpt 4.5, o3, v3, claude 3, h100
_VERSION = re.compile(r"\b([a-z]{1,12})(-|\s)?(\d{1,3}(?:\.\d)?)\b")
# how people open or pad a question; not what it is about
# "old" is what "how old" asks for, "reckon" what "think" is: neither is what a question is about
_FRAME = {
    "whats", "whens", "wheres", "whos", "hows", "whys", "tell", "explain", "mention", "mentioned", "exactly",
    "specifically", "roughly", "approximately", "actually", "currently", "today", "pls", "please", "ok", "u",
    "ur", "b4", "im", "info", "anything", "stuff", "according", "old", "reckon", "reckons",
}  # fmt: skip
MIN_TYPO_LENGTH = 5  # shorter words are too easily one letter away from another word
_PAIR = re.compile(r"\b([a-z]+)[- ](?=([a-z]+)\b)")
# a word not at the start of a text or a sentence: its capital means a name ("Claude"), not grammar
_MID_SENTENCE_WORD = re.compile(r"(?<![.!?:]\s)(?<![\n.!?:])(?<!^)\b([A-Za-z][A-Za-z0-9]+)\b")


def _norm(text: str) -> str:
    """Lower case, curly apostrophes straightened, possessive 's dropped ("claude's" -> "claude")."""
    return re.sub(r"'s\b", "", text.lower().replace("’", "'"))


def _deletes(word: str) -> set[str]:
    return {word[:i] + word[i + 1 :] for i in range(len(word))}


def _versions(text: str) -> set[str]:
    """Version terms, joined: "GPT-4.5" -> "gpt4.5", "claude 3" -> "claude3"."""
    return {m.group(1) + m.group(3) for m in _VERSION.finditer(_norm(text)) if m.group(1) not in STOP_WORDS}


def _names(spelling: Counter) -> set[str]:
    """The words written capitalised mid-sentence more often than not (proper nouns), lower-cased."""
    capital, lower = Counter(), Counter()
    for w, n in spelling.items():
        (capital if w[0].isupper() else lower)[w.lower()] += n
    return {w for w in capital if capital[w] > 2 * lower[w] and w not in STOP_WORDS}


class Lexicon:
    """The words of some chunks: what the episode says, in any form a question may type it.

    ``names`` are the words the text writes capitalised mid-sentence more often than not (its
    proper nouns: "Claude", "Anthropic"), ``written_names`` those of all the text; ``display`` the usual
    spelling of each word ("AI", "RL")."""

    def __init__(self, texts: Iterable[str], prose: Iterable[str] | None = None):
        """``texts``: everything searchable; ``prose``: the running text that names and spellings are
        learnt from (default ``texts``; entity-name fields and headings would teach "Last", "Key")."""
        texts = list(texts)
        flat_case = "\n".join(texts)
        # one pass of C-level regex work over all the text: ~0.01 s per episode
        flat = _norm(flat_case)
        words = set(_WORD.findall(flat))
        # compounds written with a hyphen or apart: "pre-training" also counts as "pretraining"
        self.compounds = set(map("".join, _PAIR.findall(flat)))
        self.versions = _versions(flat)
        spelling = Counter(_MID_SENTENCE_WORD.findall("\n".join(texts if prose is None else prose)))
        self.words = words
        self.stems = {_stem(w) for w in words}
        self.names = _names(spelling)
        # the names of everything searchable, the written analysis too ("Sholto", which the speech hears
        # as "Shulta": ``spelling``)
        self.written_names = self.names if prose is None else _names(Counter(_MID_SENTENCE_WORD.findall(flat_case)))
        self.all_names = self.names | self.written_names
        self.display: dict[str, str] = {}
        for w, _ in spelling.most_common():
            self.display.setdefault(w.lower(), w)
        alpha = [w for w in words if w.isalpha() and len(w) >= MIN_TYPO_LENGTH - 1]
        # abbreviations: "vocab" for "vocabulary", "param" for "parameter" (3+ letters cut off)
        self._prefixes = {w[:n] for w in alpha for n in range(4, 7) if len(w) >= n + 3}
        # one-letter typos, found through shared deletions (the first letter is taken as typed)
        near: dict[str, list[str]] = {}
        for w in alpha:
            for d in _deletes(w) | {w}:
                if d[:1] == w[:1]:
                    near.setdefault(d, []).append(w)
        self._typo_tables = [near]

    def has(self, word: str, abbreviation: bool = True) -> bool:
        """Does the text contain ``word`` (a lower-case question word) in some form? ``abbreviation``:
        also as the start of a longer word ("vocab" for "vocabulary")."""
        word = _norm(word)
        if word in self.words or word in self.compounds or _stem(word) in self.stems:
            return True
        if word.endswith("s") and (word[:-1] in self.words or _stem(word[:-1]) in self.stems):
            return True  # "gpus" / "gpu", "claudes" / "claude"
        if abbreviation and word in self._prefixes:
            return True
        if len(word) >= MIN_TYPO_LENGTH and word.isalpha():
            for near in self._typo_tables:
                for d in _deletes(word) | {word}:
                    if any(w[0] == word[0] and abs(len(w) - len(word)) <= 1 for w in near.get(d, ())):
                        return True
        return False

    def variants(self, word: str) -> list[str]:
        """The episode's own spellings of ``word`` (a lower-case question word), as ``has`` finds them:
        itself or its singular, the word it abbreviates, the word it misspells by one letter, a compound
        written apart ("pretraining" -> "pre training"). Empty when the episode never writes it.

        >>> Lexicon(["Its vocabulary of 50,000 tokens, pre-training, a context window."]).variants("vocab")
        ['vocabulary']
        """
        word = _norm(word)
        out = [w for w in (word, word[:-1] if word.endswith("s") else "", word + "s") if w in self.words]
        if word in self.compounds:
            out += [f"{word[:i]} {word[i:]}" for i in range(2, len(word) - 1) if {word[:i], word[i:]} <= self.words]
        if word in self._prefixes:
            out += sorted(w for w in self.words if w.startswith(word) and w != word)
        if not out and len(word) >= MIN_TYPO_LENGTH and word.isalpha():
            for near in self._typo_tables:
                for d in _deletes(word) | {word}:
                    out += [w for w in near.get(d, ()) if w[0] == word[0] and abs(len(w) - len(word)) <= 1]
        return list(dict.fromkeys(out))

    @classmethod
    def union(cls, parts: Sequence[Lexicon]) -> Lexicon:
        """One lexicon over several (an episode each): sets joined, typo tables kept apart (joining
        them key by key would cost more than looking a rare absent word up in each)."""
        lex = cls.__new__(cls)
        for name in ("words", "stems", "compounds", "versions", "names", "written_names", "all_names", "_prefixes"):
            setattr(lex, name, set().union(*(getattr(p, name) for p in parts)))
        lex.display = {}
        for p in reversed(parts):
            lex.display.update(p.display)
        lex._typo_tables = [t for p in parts for t in p._typo_tables]
        return lex

    def spell(self, word: str) -> str:
        return self.display.get(word.lower(), word)


_lexicons: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # per BM25 index (store revision)
_lexicons_lock = threading.Lock()
# per episode and content: an ingest elsewhere changes the revision, not the episodes it left alone
_episode_lexicons: OrderedDict[tuple[str, str], Lexicon] = OrderedDict()
MAX_CACHED_EPISODES = 4096


def _episode_lexicon(episode: str, content: str, items: list[tuple[str, dict]]) -> Lexicon:
    key = (episode, content)
    with _lexicons_lock:
        if key in _episode_lexicons:
            _episode_lexicons.move_to_end(key)
            return _episode_lexicons[key]
    texts = [" ".join((t, md.get("enrichment", ""), str(md.get("name") or ""))) for t, md in items]
    lex = Lexicon(texts, [t for t, md in items if md.get("section") in ("quotes", "companies", "insights")])
    with _lexicons_lock:
        _episode_lexicons[key] = lex
        while len(_episode_lexicons) > MAX_CACHED_EPISODES:
            _episode_lexicons.popitem(last=False)
    return lex


def lexicon(retriever: HybridRetriever, episode: str | None = None) -> Lexicon:
    """The lexicon of one episode (or of all of them): built per episode once per content (~0.03 s
    each; a store of 1,000 episodes pays ~30 s once per process), joined per store revision."""
    index = retriever.bm25_index()
    with _lexicons_lock:
        cached = _lexicons.setdefault(index, {}).get(("__lexicon__", episode))
    if cached is not None:
        return cached
    by_episode: dict[str, list[tuple[str, dict]]] = {}
    content: dict[str, str] = {}
    for t, md in zip(index.texts, index.metadatas):
        ep = md.get("episode_id", "")
        if episode is None or ep == episode:
            by_episode.setdefault(ep, []).append((t, md))
            if md.get("section") == "overview" and md.get("content_hash"):
                content[ep] = str(md["content_hash"])
    parts = [
        # without a recorded content hash, the texts themselves tell whether the episode changed
        _episode_lexicon(ep, content.get(ep) or str(hash(tuple(t for t, _ in items))), items)
        for ep, items in sorted(by_episode.items())
    ]
    lex = parts[0] if len(parts) == 1 else Lexicon.union(parts)
    with _lexicons_lock:
        _lexicons.setdefault(index, {})[("__lexicon__", episode)] = lex
    return lex


class Passages:
    """The chunks of a search scope, found by the words they hold in the forms the episode writes them
    (``Lexicon.variants``), through the BM25 index's postings: no pass over the chunks.

    >>> p = Passages(retriever.bm25_index(), SearchFilter(episode="e8dde77376fc3016"), lex)  # doctest: +SKIP
    >>> [h.id for h in p.holding_all(["vocab", "pretraining"])][:1]                # doctest: +SKIP
    ['e8dde77376fc3016/quotes/20']
    """

    def __init__(self, index: BM25Index, flt: SearchFilter, lex: Lexicon):
        self.index, self.flt, self.lex = index, flt, lex

    def _docs(self, word: str) -> np.ndarray:
        """Indices of the chunks holding ``word`` in some form (every token of a form written apart)."""
        found = np.zeros(0, dtype=int)
        for form in [word, _UNITS.get(word, word), *self.lex.variants(word)]:
            tokens = tokenize(form)
            if not tokens or any(t not in self.index.postings for t in tokens):
                continue
            docs = self.index.postings[tokens[0]][0]
            for t in tokens[1:]:
                docs = np.intersect1d(docs, self.index.postings[t][0])
            found = np.union1d(found, docs)
        return found

    def respelled(self, word: str) -> bool:
        """Does the episode write ``word`` only otherwise ("vocab" for its "vocabulary"), so that a search
        for the word as typed cannot find it?"""
        tokens = tokenize(word)
        return bool(tokens) and any(t not in self.index.postings for t in tokens) and bool(self.lex.variants(word))

    def _hit(self, i: int, score: float = 0.0) -> Hit:
        return Hit(self.index.ids[i], self.index.texts[i], self.index.metadatas[i], bm25_score=score)

    def _holding(self, words: Sequence[str]) -> np.ndarray:
        docs = None
        for w in dict.fromkeys(words):
            found = self._docs(w)
            docs = found if docs is None else np.intersect1d(docs, found)
            if not len(docs):
                break
        return docs if docs is not None else np.zeros(0, dtype=int)

    def _in_scope(self, docs: Iterable[int]) -> list[int]:
        return [int(i) for i in docs if self.flt.matches(self.index.metadatas[i])]

    def holding_all(self, words: Sequence[str]) -> list[Hit]:
        """The chunks in scope that hold every one of ``words``."""
        return [self._hit(i) for i in self._in_scope(self._holding(words))]

    def best(self, words: Sequence[str], n: int, required: Sequence[str] = ()) -> list[Hit]:
        """The ``n`` chunks BM25 ranks best for ``words`` in the episode's forms, among those in scope that
        hold every ``required`` word."""
        tokens = [t for w in words for form in [w, *self.lex.variants(w)] for t in tokenize(form)]
        scores = self.index.scores(list(dict.fromkeys(tokens)))
        docs = self._holding(required) if required else np.flatnonzero(scores)
        ranked = sorted(self._in_scope(i for i in docs if scores[i] > 0), key=lambda i: (-scores[i], i))
        return [self._hit(i, float(scores[i])) for i in ranked[:n]]


def known_episodes(retriever: HybridRetriever) -> set[str]:
    """Episode ids in the store (from the cached BM25 index: no store round trip per question)."""
    index = retriever.bm25_index()
    with _lexicons_lock:
        per_scope = _lexicons.setdefault(index, {})
        if "__ids__" not in per_scope:
            per_scope["__ids__"] = {md.get("episode_id") for md in index.metadatas}
        return per_scope["__ids__"]


# --- what a question asks for -------------------------------------------------------------------------
_KINDS = (
    ("percent", re.compile(r"\bwhat (percent|percentage|share|fraction|proportion)\b|\bpercent(age)?\b|%")),
    (
        "money",
        re.compile(
            r"\bhow much (does|do|did|would|will|is|are|was)\b.*\b(cost|charge|pay|paid|earn|make|spend|spent|"
            r"raise|raised|worth|sell)|\b(cost|price|pricing|valuation|revenue|salary|salaries|funding|arr)\b|"
            r"\bvalued at\b|\bhow much (is|are|was) (an? |the )?\w+( \w+)? (subscription|plan|license|licence|ticket)\b"
        ),
    ),
    (
        "date",
        re.compile(
            r"^\W*(and |so |but )?(by |since |until )?when(s)?\b|\bwhat (year|month|date|day)\b|\bwhich year\b|"
            r"\b(release|launch) date\b|\bhow soon\b|\bhow long (until|till|til|before)\b"
        ),
    ),
    ("duration", re.compile(r"\bhow long\b")),
    ("age", re.compile(r"\bhow old\b|\bwhat age\b|\b(his|her|their) age\b")),
    (
        "count",
        re.compile(
            r"\bhow (many|big|large)\b|\bhow much (money|compute|data)\b|"
            r"\b(count|number|size|score|multiplier|ratio|odds|params|parameters)\b\W*$|"
            r"\b\w+ (count|size|score|multiplier)\b|\b(what|which) \w+ number\b|\bwhat (hz|score|size|number)\b"
        ),
    ),
    (
        "person",
        re.compile(r"^\W*(and |so |but )?who(m|se)?\b|\bname of\b|\bwhat(?: is|'s|s)? the name\b|\bwhich person\b"),
    ),
    (
        "place",
        re.compile(r"^\W*(and |so |but )?where\b|\bwhich (city|country|state|town|place|university|school|company)\b"),
    ),
)
FIGURES = ("count", "money", "percent", "date", "duration", "age")
_NUMBER_WORDS = (
    "two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|thirty|forty|fifty|sixty|"
    "seventy|eighty|ninety|hundreds?|thousands?|millions?|billions?|trillions?|dozens?|half"
)
_FIGURE_IN_TEXT = {
    "count": re.compile(rf"\d|\b({_NUMBER_WORDS})\b", re.I),
    "money": re.compile(
        r"[$€£]\s?\d|\b\d[\d,.]*\s?(k|m|bn|b)?\s?(dollars?|usd|euros?|pounds?)\b|\b(million|billion|trillion)s?\b", re.I
    ),
    "percent": re.compile(r"%|\bper ?cent\b|\bpercentage\b|\b(half|third|quarter)\b", re.I),
    "date": re.compile(
        r"\b(1[89]|20)\d\d\b|\b(january|february|march|april|may|june|july|august|september|october|november|"
        r"december)\b|\b(this|next|last|previous|coming|past)( \w+)? (years?|months?|weeks?|decades?)\b|"
        r"\bby the end of\b|\bago\b|\brecently\b",
        re.I,
    ),
    "duration": re.compile(
        rf"\b(\d[\d,.]*|{_NUMBER_WORDS})\s+(seconds?|minutes?|hours?|days?|weeks?|months?|years?)\b", re.I
    ),
    "age": re.compile(
        rf"\b(\d+|{_NUMBER_WORDS})[- ](years?|yrs?)[- ]old\b|\baged? \d+\b|\b(twenties|thirties|forties|fifties)\b",
        re.I,
    ),
}
# units people abbreviate
_UNITS = {"hz": "hertz", "k": "thousand", "m": "million", "bn": "billion", "gb": "gigabytes", "tb": "terabytes"}
_BOUNDARY = {
    "could", "would", "can", "will", "do", "does", "did", "are", "were", "is", "was", "have", "has", "had",
    "should", "might", "of", "per", "in", "on", "at", "for", "to", "from", "with", "by", "get", "got",
}  # fmt: skip
# events a "when" question dates
_EVENT = (
    r"released?|launch(?:ed)?|founded|published|recorded|announced|born|invented|acquired|graduated|married|"
    r"join(?:ed)?"
)
_ABOUT = re.compile(r"\s*\(about: .*\)\s*$", re.S)  # the context a follow-up rewrite appends


def own_part(question: str) -> str:
    """The question without the context a follow-up rewrite added: the follow-up as typed when the
    standalone question remembers it (``followup.Standalone``), else the text before "(about: ...)"."""
    return getattr(question, "typed", None) or _ABOUT.sub("", question)


_SUBORDINATE_OPENING = re.compile(
    r"^\W*(?:when|if|once|while)\b[^,?]{3,},\s*(?=(?:should|do|does|did|is|are|was|were|can|could|would|will|"
    r"what|how|who|which|why)\b)"
)


def answer_kind(question: str) -> str | None:
    """What the question asks for: one of FIGURES, "person", "place", or None (an open question)."""
    q = _norm(own_part(question)).strip()
    q = re.sub(r"\bwhen it comes to\b", "", q)
    # "when you build a benchmark, should it ...?" asks what the main clause asks, not for a date
    q = _SUBORDINATE_OPENING.sub("", q)
    for kind, pattern in _KINDS:
        if pattern.search(q):
            return kind
    return None


def measured_terms(question: str) -> list[str]:
    """The thing a figure question measures: "how many *bad behaviors* did ...", "*vocab* size",
    "what *hz*", "Anthropic's *revenue*". Empty when it is implicit ("how many could run in 2028?")."""
    q = _norm(own_part(question))
    money = re.search(r"\b(revenue|valuation|cost|price|salary|salaries|funding|arr)\b", q)
    if money:  # an amount of what: "Anthropic's *revenue*", not any sum beside the name
        return [money.group(1)]
    # "when was GPT-4 *released*": a date beside the event, not any date beside the name
    m = re.search(rf"\b(?:when|what (?:year|month|date|day)|which year)\b.*\b({_EVENT})\b|\b(release|launch) date\b", q)
    if m:
        return [m.group(1) or m.group(2)]
    m = re.search(r"\bhow (?:many|much)\s+(.*)", q)
    if m:  # the first two words, a hyphenated compound counting as one ("*h100-class gpus*")
        units = []
        for unit in re.findall(r"[a-z0-9.]+(?:-[a-z0-9.]+)*", m.group(1)):
            if unit in _BOUNDARY:
                break
            if unit not in STOP_WORDS:
                units.append([w for w in _WORD.findall(unit) if w not in STOP_WORDS])
        return [w for unit in units[:2] for w in unit]
    m = re.search(r"\b([a-z0-9-]+)\s+(?:count|size|score|multiplier|number)\b", q)
    if m and m.group(1) not in STOP_WORDS and m.group(1) not in _FRAME:
        return [m.group(1)]
    m = re.search(r"\bwhat (hz|tokens|gb|tb)\b|\bin (tokens|words|dollars|hertz|hz)\b", q)
    if m:
        return [m.group(1) or m.group(2)]
    return []


def _measured_words(question: str) -> set[str]:
    """The measured terms of a figure question and their parts ("swe-bench" -> "swe", "bench")."""
    return {t for m in measured_terms(question) for t in [m, *re.split(r"[-\s]", m)]}


def _content_words(text: str) -> list[str]:
    return [
        w
        for w in _WORD.findall(_norm(text))
        if w not in STOP_WORDS and w not in _FRAME and not w.isdigit() and not _misspelt_frame(w)
    ]


_LONG_FRAME = tuple(f for f in _FRAME if len(f) >= 7)  # shorter ones are a letter away from real words


def _misspelt_frame(word: str) -> bool:
    """A framing word typed with one letter wrong ("acording", "specificaly"): framing all the same."""
    return len(word) >= 7 and any(edit_distance(word, f, 1) <= 1 for f in _LONG_FRAME)


# --- the signals ---------------------------------------------------------------------------------------
def absent_names(question: str, lex: Lexicon) -> list[str]:
    """Specific terms the question names (digits, capitals mid-sentence) that occur nowhere in the
    lexicon's text, as the user wrote them. A lower-case word, hyphenated or not, is no name here:
    "hand-craft" is a paraphrase as often as "swe-bench" is a product."""
    own = own_part(question).replace("’", "'")
    out: list[str] = []
    for m in _VERSION.finditer(_norm(own)):
        joined = m.group(1) + m.group(3)
        if m.group(1) in STOP_WORDS or m.group(1) in _FRAME or joined in _FRAME:
            continue
        singular = m.group(1)[:-1] + m.group(3) if m.group(1).endswith("s") else joined  # "oceans 11": "Ocean's 11"
        if joined not in lex.versions and singular not in lex.versions:
            out.append(m.group(0))
    # a figure or year the episode never uses ("by 2030", "1.8T"); one digit is too common to tell
    for m in re.finditer(r"(?<![\w.-])(\d[\d.]*\d)(?![\w.-]*\d)", own):
        if m.group(1) not in lex.words and not any(m.group(1) in v for v in out):
            out.append(m.group(1))
    # a name is matched as a name: no abbreviation ("METR" is not short for "metrics")
    for m in re.finditer(r"(?<=[\w,;)] )([A-Z][A-Za-z]+|[A-Z]{2,}s?)\b", own):
        w = m.group(1)
        if w.lower() not in STOP_WORDS and not lex.has(w.lower(), abbreviation=False) and w not in out:
            out.append(w)
    return out


def _asked_by_verb(question: str, word: str) -> bool:
    """Is ``word`` the past-tense verb right after the question's "who" or "where" ("who *kicked* off
    the agenda?")? The verb is the asker's word for what was done; what it was done to must be there."""
    return word.endswith("ed") and bool(
        re.search(rf"^\W*(?:and |so |but )?(?:who|where)\s+{re.escape(word)}\b", _norm(own_part(question)))
    )


def absent_words(question: str, lex: Lexicon) -> list[str]:
    """The question's own content words that occur nowhere in the lexicon's text (a unit people
    abbreviate counts as written out: "hz" is there when "hertz" is, as the figure check reads it)."""
    return [w for w in _content_words(own_part(question)) if _absent(w, lex)]


def _absent(word: str, lex: Lexicon) -> bool:
    return not lex.has(word) and not lex.has(_UNITS.get(word, word))


# a question that asks whether, or what, the episode says about a topic: "did they talk about X?",
# "what do they think of X?", "any thoughts on X?", "is X discussed?" -- not "what about X?": as a
# follow-up it asks a new angle of the earlier subject, in whatever words come to mind
_WHO = r"(?:they|he|she|you|anyone|either of them|the guests?|the hosts?|[a-z]+)"
_TOPIC_ASK = re.compile(
    rf"^\W*(?:and |so |but |ok )?(?:"
    rf"(?:did|do|does|have|has|will|was|were) {_WHO} (?:ever |also |even )?(?:talk|speak|say anything|"
    rf"say much|mention|discuss|bring up|touch on|cover|get into|go into|comment on|address)(?:ed)?"
    rf"(?: about| abt| on| of)?"
    rf"|what (?:do|did|does) {_WHO} (?:say|think|believe|feel|reckon)(?: about| abt| of| on| regarding)"
    rf"|(?:(?:any|their|his|her) )?(?:thoughts?|opinions?|takes?|views?|comments?|mentions?|discussion|word)"
    rf"(?: from (?:them|either of them|the guests|[a-z]+))? (?:on|about|of|regarding)"
    rf"|what(?:'s| is|s) (?:their|his|her|the) (?:opinion|take|view|stance|position)s? (?:on|of|about)"
    rf"|is there (?:any )?(?:discussion|mention|talk) (?:of|about|on)"
    rf")\s+(?P<topic>.+?)\s*(?:,? ?(?:at all|in (?:the|this) (?:episode|podcast|show|conversation)|"
    rf"on the show|according to them))?\W*$",
    re.I,
)
_TOPIC_PASSIVE = re.compile(
    r"^\W*(?:(?:is|was|are|were) (?P<topic>.+?) (?:mentioned|discussed|brought up|covered)"
    r"|(?:does|did|do) (?P<topic2>.+?) (?:come|came) up)\b",
    re.I,
)
# "what is neuralese?", "what are sparse autoencoders": a term asked to be explained
_DEFINITION = re.compile(
    r"^\W*(?:so |and |but |ok )?(?:what(?:'s| is|s| are)|define|explain)\s+(?:an? |the )?(?P<topic>[^?]+?)\W*$", re.I
)
MAX_TERM_WORDS = 4  # longer, it is a question about something, not a term
MIN_ABSENT_SHARE = 0.5  # of the topic's content words
MAX_QUOTED_TOPIC_WORDS = 6  # a longer topic is named by its missing words


def asked_topic(question: str) -> str | None:
    """The topic a "did they talk about X?" / "what do they think of X?" question asks after, as typed.

    >>> asked_topic("did they discuss quantum computing at all?"), asked_topic("Why does RL work?")
    ('quantum computing', None)
    """
    q = " ".join(own_part(question).replace("’", "'").split())  # as typed: the refusal quotes it
    m = _TOPIC_ASK.match(q) or _TOPIC_PASSIVE.match(q)
    return (m.group("topic") or m.groupdict().get("topic2") or "").strip(" ?.!") or None if m else None


def asked_term(question: str) -> str | None:
    """The term a "what is X?" question asks to have explained, as typed.

    >>> asked_term("what are sparse autoencoders?"), asked_term("what is the bottleneck to more compute in 2028?")
    ('sparse autoencoders', None)
    """
    m = _DEFINITION.match(" ".join(own_part(question).replace("’", "'").split()))
    if not m or len(_WORD.findall(m.group("topic"))) > MAX_TERM_WORDS:
        return None
    return m.group("topic")


def absent_topic(question: str, lex: Lexicon) -> list[str]:
    """When the question asks what the episode says about a topic and at least half of that topic's
    content words occur nowhere in the episode ("quantum computing", "elon musk"): the topic (or, if
    long, its missing words). Unlike an absent word anywhere in a question -- usually a paraphrase
    ("flaky", "gist") -- the topic is the thing asked about: an episode that never names it does not
    discuss it."""
    return _missing_of(asked_topic(question), lex)


def absent_asked(question: str, lex: Lexicon) -> list[str]:
    """What the question asks after that the episode never names: the topic ("did they talk about
    *elon musk*?"), else -- unless it asks for a figure, which has its own checks -- the term it asks
    to have explained ("what is *neuralese*?")."""
    term = asked_term(question) if answer_kind(question) is None else None
    return _missing_of(asked_topic(question), lex) or _missing_of(term, lex)


def _missing_of(topic: str | None, lex: Lexicon) -> list[str]:
    """``absent_topic`` for a topic already found (``asked_topic``)."""
    if not topic:
        return []
    missing = absent_words(topic, lex)
    # a topic mostly of the episode's words with one new one is usually a paraphrase ("looking inside
    # the model's *head*", "*energy* limits for datacenters"); one mostly of new words is not there
    if not missing or len(missing) < MIN_ABSENT_SHARE * len(_content_words(topic)):
        return []
    return [topic] if len(_WORD.findall(topic)) <= MAX_QUOTED_TOPIC_WORDS else missing


# a yes/no question: "is sholto australian?", "do they use ppo or grpo for the RL?"
_YES_NO = re.compile(
    r"^\W*(?:and |so |but |ok )?(?:is|are|was|were|does|do|did|has|have|had|can|could|will|would)\s", re.I
)


def absent_property(question: str, lex: Lexicon) -> list[str]:
    """A yes/no question about something the episode names ("is *sholto* australian?", "do they use
    ppo or grpo for the *RL*?") whose other content words are at least half absent from the episode:
    those words. The episode cannot say whether X is something it never mentions; a yes/no question
    with no episode name in it is left to the other checks (its words are often a paraphrase)."""
    own = own_part(question)
    if not _YES_NO.match(own):
        return []
    names = set(question_names(question, lex))
    rest = [w for w in _content_words(own) if w not in names]
    if not names or not rest:
        return []
    missing = [w for w in rest if _absent(w, lex)]
    return missing if missing and len(missing) >= MIN_ABSENT_SHARE * len(rest) else []


ASKED_SOURCES = 8  # the sources an answer is composed from (the extractive answerer's MAX_SOURCES)
MIN_UNSOURCED_WORDS = 2  # one word the sources lack is often the asker's paraphrase ("golden gate *version*")


def _label(hit: Hit) -> str:
    """The file's own description of a source: a quote's topic and impact note, an entity's name."""
    return " ".join((hit.metadata.get("enrichment", ""), str(hit.metadata.get("name") or "")))


def _source_bag(hit: Hit) -> tuple[set[str], set[str]]:
    """A source's words, its description included."""
    return _bag(f"{hit.text} {_label(hit)}")


def unsourced_ask(question: str, hits: Sequence[Hit], lex: Lexicon) -> list[str]:
    """A question about something the episode names that asks a thing none of the sources found for it
    mention: "what's *trenton*'s phd thesis about?", "what does *kelsey piper* do for a living?". At
    least ``MIN_UNSOURCED_WORDS`` content words besides the names, none of them in any of the top
    ``ASKED_SOURCES`` sources: those words. Search finds the name; the answer would be about the name
    and not about what was asked. A question without an episode name is left alone: its words are the
    asker's paraphrase as often as not, and nothing anchors the search."""
    names = set(question_names(question, lex))
    rest = list(dict.fromkeys(w for w in _content_words(own_part(question)) if w not in names))
    if not names or len(rest) < MIN_UNSOURCED_WORDS:
        return []
    bags = [_source_bag(h) for h in hits[:ASKED_SOURCES]]
    if any(_term_in(w, words, stems) for w in rest for words, stems in bags):
        return []
    return rest


def shown_names(words: Sequence[str], question: str) -> list[str]:
    """The names ``words`` (lower case, as the checks read them) as a reader should see them: as the
    question writes them, capitalised if typed in lower case, words typed side by side as one name.

    >>> shown_names(["kelsey", "piper"], "is kelsey piper a journalist?"), shown_names(["sholto", "google"],
    ...     "did sholto talk about google brain?")
    (['Kelsey Piper'], ['Sholto', 'Google'])
    """
    own = own_part(question)
    spans = sorted(m.span() for w in words if (m := re.search(rf"\b{re.escape(w)}\b", own, re.I)))
    merged: list[list[int]] = []
    for start, end in spans:
        if merged and not own[merged[-1][1] : start].strip():
            merged[-1][1] = end
        else:
            merged.append([start, end])
    return [" ".join(w[:1].upper() + w[1:] for w in own[a:b].split()) for a, b in merged]


def absent_subject(question: str, lex: Lexicon) -> list[str]:
    """A follow-up that points back ("is *it* dangerous?", "why?") at an earlier question about a topic
    or term the episode never names ("what is neuralese?", "did they talk about elon musk?"): that
    topic. The follow-up's own words are the episode's; what "it" stands for is not. Only the topic
    asked about counts, not any absent word of the earlier question: "Could models think in latent
    space instead of *English*?" is about latent space (a tune follow-up, "whose scenario is that?")."""
    return absent_asked(question.subject, lex) if getattr(question, "refers_back", False) else []


def _sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?])\s+|\n+", text) if s.strip()]


def _term_in(term: str, words: set[str], stems: set[str]) -> bool:
    term = _UNITS.get(term, term)
    if term in words or _stem(term) in stems or (term.endswith("s") and _stem(term[:-1]) in stems):
        return True
    return len(term) >= 4 and any(w.startswith(term) for w in words)  # "vocab" -> "vocabulary"


def _misheard(name: str, words: set[str]) -> bool:
    """A transcript spells names as it hears them ("geogessor" for GeoGuessr, "Brickin" for Bricken):
    a name of 5+ letters matches a word with its first letter within one edit, 8+ letters within two.

    >>> _misheard("geoguessr", {"the", "geogessor"}), _misheard("claude", {"clause"}), _misheard("rl", {"rm"})
    (True, True, False)
    """
    limit = 2 if len(name) >= 8 else 1 if len(name) >= MIN_TYPO_LENGTH else 0
    return bool(limit) and any(w[:1] == name[:1] and edit_distance(name, w, limit) <= limit for w in words)


def _source_names(name: str, words: set[str], stems: set[str], lex: Lexicon) -> bool:
    """Does a source (its ``words``) name ``name``, in any spelling: plural, misheard by a letter or
    two, or as the transcript hears a written name ("Shulta" for "Sholto")?"""
    heard = spelling.heard_as(name, lex)
    return (
        _term_in(name, words, stems)
        or _term_in(name[:-1], words, stems)
        or _misheard(name, words)
        or (heard is not None and heard.lower() in words)
    )


def _bag(text: str) -> tuple[set[str], set[str]]:
    words = set(_WORD.findall(_norm(text)))
    return words, {_stem(w) for w in words}


def question_names(question: str, lex: Lexicon) -> list[str]:
    """The episode's names that the question itself uses (lower case). A follow-up's borrowed context
    ("RL" in "by when ...? (about: ... RL ...)") is not among them: it need not stand beside the answer."""
    own = _content_words(own_part(question))
    # "sholto" too: the written analysis's name for the speech's "Shulta"
    return [w for w in own if among_names(w, lex.all_names)]


# "what is Scale AI's *actual* revenue?" asks for the fact: a sentence supposing a figure ("otherwise,
# Scale AI's revenue *would be* $10 billion") does not state it
_ASKS_ACTUAL = re.compile(r"\b(actual|actually|real|really|exact|exactly|true)\b")
_SUPPOSED = re.compile(r"\b(would|could|might|if|otherwise|imagine|suppose|hypothetical(ly)?)\b|'d\b", re.I)


def figure_stated(question: str, hits: Sequence[Hit], lex: Lexicon, top: int = 5) -> bool | None:
    """For a figure question: does one of the ``top`` sources state a figure of the asked kind, in a
    sentence that also names the measured thing, in a source that names every episode name the
    question names? The measured thing may also be in the source's description (a quote's topic and
    impact note: "30 to 300 trillion synapses" is described as compared with "trillions of parameters").
    None when the question asks for no figure."""
    if answer_kind(question) not in FIGURES:
        return None
    return figure_source(question, hits, lex, top) is not None


def _states(kind: str, measured: Sequence[str], sentence: str, described=None, actual: bool = False) -> bool:
    """Does ``sentence`` state a figure of ``kind`` beside a ``measured`` term, in it or in its source's
    description (``described``: a bag of words)? With ``actual`` (the question asks for the real
    figure), a sentence that supposes one does not state it."""
    if not _FIGURE_IN_TEXT[kind].search(sentence) or (actual and _SUPPOSED.search(sentence)):
        return False
    bags = (_bag(sentence),) if described is None else (_bag(sentence), described)
    return not measured or any(_term_in(t, w, st) for t in measured for w, st in bags)


def figure_statement(question: str) -> Callable[[str], bool] | None:
    """For a figure question, the test of a sentence stating the figure it asks for beside the measured
    thing; None for any other question.

    >>> states = figure_statement("vocab size?")
    >>> states("It's vocabulary of, let's say, 50,000 tokens."), states("50,000 people"), figure_statement("why?")
    (True, False, None)
    """
    kind = answer_kind(question)
    if kind not in FIGURES:
        return None
    measured, actual = measured_terms(question), asks_actual(question)
    return lambda sentence: _states(kind, measured, sentence, actual=actual)


def asks_actual(question: str) -> bool:
    """Does the question ask for the real figure ("Scale AI's *actual* revenue"), not a supposed one?"""
    return bool(_ASKS_ACTUAL.search(_norm(own_part(question))))


def figure_source(question: str, hits: Sequence[Hit], lex: Lexicon, top: int = 5) -> Hit | None:
    """The first of the ``top`` sources that states the figure a figure question asks for (see
    ``figure_stated``); None when none does or the question asks for no figure."""
    kind = answer_kind(question)
    if kind not in FIGURES:
        return None
    measured, actual = measured_terms(question), asks_actual(question)
    # a name that is the measured thing ("how many *GPUs*") is matched as that, not required beside it
    names = [n for n in question_names(question, lex) if n not in measured and n[:-1] not in measured]
    for hit in hits[:top]:
        words, stems = _source_bag(hit)
        # of three or more names one may go unsaid: "how many features did *Anthropic* fit on Claude 3
        # Sonnet?" is answered by "we go from ... to our Claude 3 Sonnet ... 30 million features"
        named = sum(_source_names(n, words, stems, lex) for n in names)
        if named < (len(names) - 1 if len(names) >= MIN_NAMES_ONE_UNSAID else len(names)):
            continue
        # an event's date is in the sentence that tells of it: a description's "release" beside a
        # sentence's "the next few months" dates something else ("when was GPT-4 released?")
        described = None if kind == "date" else _bag(_label(hit))
        if any(_states(kind, measured, sentence, described, actual) for sentence in _sentences(hit.text)):
            return hit
    return None


MIN_NAMES_ONE_UNSAID = 3  # names in a figure question from which a source may leave one unsaid
RESCUE_MARGIN = 0.05  # how far below the threshold a question's words standing together still count
MIN_WORDS_TOGETHER = 2  # one shared word says little about a question
FIGURE_LOOKUPS = 3  # chunks looked up by the measured thing and names, beside the retrieved sources


def words_stand_together(question: str, top: float, threshold: float, passages: Passages) -> bool:
    """Just under the threshold, is the question on topic after all because one chunk holds every
    one of its content words (at least two)? Terse questions in the episode's own jargon embed far from
    its sentences: "oceans 11 analogy?" (0.31) is quotes/131 word for word."""
    words = list(dict.fromkeys(_content_words(own_part(question))))
    if top < threshold - RESCUE_MARGIN or len(words) < MIN_WORDS_TOGETHER:
        return False
    return bool(passages.holding_all(words))


def figure_lookup(question: str, passages: Passages) -> list[Hit]:
    """When the question writes a word otherwise than the episode does (an abbreviation, a typo, a
    compound written as one word), which search cannot match: the chunks that hold the measured thing
    and the question's names in the episode's spelling, best for its words first ("vocab size?" ranks
    quotes/20, "vocabulary of ... 50,000 tokens", 12th). Else nothing: a lookup by any word beside a
    figure finds figures about something else ("how many *people* work on ..." meets "not enough people")."""
    measured = measured_terms(question)
    words = _content_words(own_part(question))
    if not measured or not any(passages.respelled(w) for w in words):
        return []
    required = [*measured, *question_names(question, passages.lex)]
    return passages.best(words, FIGURE_LOOKUPS, required=required)


@dataclass
class RefusalDecision:
    refused: bool
    signal: float  # the best dense similarity
    threshold: float
    reason: str | None = None  # "off_topic" | "not_stated"
    # which signal refused: dense | absent_name | absent_topic | absent_property | factoid_word | figure |
    # unsourced | absent_subject
    rule: str | None = None
    missing: list[str] = field(default_factory=list)  # what the episode does not have, as the user typed it
    kind: str | None = None  # what the question asks for (answer_kind)
    # the source that states the figure a figure question asks for: what the answer should lead with
    evidence: Hit | None = None
    subject: list[str] = field(default_factory=list)  # the names an "unsourced" question asks about, as shown


def decide(
    result: SearchResult,
    threshold: float,
    question: str | None = None,
    lex: Lexicon | None = None,
    sources: int = 5,
    passages: Passages | None = None,
) -> RefusalDecision:
    """Off topic when the best dense similarity is below ``threshold``; not stated when a second
    signal (module docstring) finds what the question asks for missing. Without ``question`` and
    ``lex`` only the first check runs; ``passages`` (the scope's chunks by word) lets the checks look
    past the retrieved sources."""
    top = result.top_dense
    if not result.hits or top < threshold:
        if not (question and passages and result.hits and words_stand_together(question, top, threshold, passages)):
            return RefusalDecision(True, top, threshold, OFF_TOPIC, "dense")
    if question is None or lex is None:
        return RefusalDecision(False, top, threshold)
    missing = absent_subject(question, lex)
    if missing:
        return RefusalDecision(True, top, threshold, NOT_STATED, "absent_subject", missing, answer_kind(question))
    kind = answer_kind(question)
    topic = asked_topic(question)
    names = absent_names(question, lex)
    if names:
        # "any thoughts on the EU AI act?": the topic asked after names what is missing best
        if topic and len(_WORD.findall(topic)) <= MAX_QUOTED_TOPIC_WORDS and all(n in topic for n in names):
            names = [topic]
        return RefusalDecision(True, top, threshold, NOT_STATED, "absent_name", names, kind)
    missing = absent_asked(question, lex)
    if missing:
        return RefusalDecision(True, top, threshold, NOT_STATED, "absent_topic", missing, kind)
    missing = absent_property(question, lex)
    if missing:
        return RefusalDecision(True, top, threshold, NOT_STATED, "absent_property", missing, kind)
    if kind is not None:
        words = absent_words(question, lex)
        if kind in FIGURES:  # another absent word is a paraphrase as often as not: the figure check decides
            words = [w for w in words if w in _measured_words(question)]
        else:  # "who *kicked* off the agenda?": the verb says how they are asked after, in the asker's words
            words = [w for w in words if not _asked_by_verb(question, w)]
        if words:
            return RefusalDecision(True, top, threshold, NOT_STATED, "factoid_word", words, kind)
        # "what do they say about how big vs small models ...?" asks what is said, not for a figure
        if topic is None and kind in FIGURES:
            evidence = figure_source(question, result.hits, lex, sources) or (
                figure_source(question, figure_lookup(question, passages), lex, FIGURE_LOOKUPS) if passages else None
            )
            if evidence is None:
                measured = " ".join(measured_terms(question))
                return RefusalDecision(True, top, threshold, NOT_STATED, "figure", [measured] if measured else [], kind)
            return RefusalDecision(False, top, threshold, kind=kind, evidence=evidence)
    if kind not in FIGURES:  # a figure question's sources were read by the figure check
        missing = unsourced_ask(question, result.hits, lex)
        if missing:
            subject = shown_names(question_names(question, lex), question)
            return RefusalDecision(True, top, threshold, NOT_STATED, "unsourced", missing, kind, subject=subject)
    return RefusalDecision(False, top, threshold, kind=kind)


# --- what the refusal says -----------------------------------------------------------------------------
_MISSING_LEAD = {
    "count": "The episode doesn't give that number",
    "money": "The episode doesn't give that amount",
    "percent": "The episode doesn't give that percentage",
    "date": "The episode doesn't say when",
    "duration": "The episode doesn't say how long",
    "age": "The episode doesn't say how old",
    "person": "The episode doesn't say who",
    "place": "The episode doesn't say where",
}


def _quoted(terms: Sequence[str]) -> str:
    items = [f"“{t}”" for t in terms]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]


def not_stated_lead(decision: RefusalDecision) -> str:
    """One plain sentence naming what the episode does not give.

    >>> print(not_stated_lead(RefusalDecision(True, 0.5, 0.3, NOT_STATED, "absent_name", ["Stargate"])))
    The episode doesn't mention “Stargate”.
    >>> print(not_stated_lead(RefusalDecision(True, 0.5, 0.3, NOT_STATED, "figure", ["gym badges"], "count")))
    The episode doesn't give that number: no passage states a figure for “gym badges”.
    """
    if decision.rule in ("absent_name", "absent_topic", "absent_property", "absent_subject") or (
        decision.rule == "factoid_word" and decision.kind is None
    ):
        return f"The episode doesn't mention {_quoted(decision.missing)}."
    lead = _MISSING_LEAD.get(decision.kind or "", "The episode doesn't answer this directly")
    if decision.rule == "unsourced":
        about = f" about {' and '.join(decision.subject)}" if decision.subject else ""
        return f"{lead}: none of its passages{about} mention {_quoted(decision.missing)}."
    if decision.rule == "factoid_word":
        return f"{lead}: it never mentions {_quoted(decision.missing)}."
    if decision.missing and decision.kind == "date":  # the event a "when" question dates: "join", "released"
        return f"{lead}: no passage dates {_quoted(decision.missing)}."
    if decision.missing:
        return f"{lead}: no passage states a figure for {_quoted(decision.missing)}."
    return f"{lead}."


def not_stated_message(decision: RefusalDecision, closest: str) -> str:
    lead = not_stated_lead(decision)
    return f"{lead} The closest it says: {closest}" if closest else lead


def _where(titles: list[str]) -> str:
    """The episode by its title, or "the indexed episodes" when there are several."""
    return f"“{titles[0]}”" if len(titles) == 1 else "the indexed episodes"


def refusal_message(topics: list[str], titles: list[str]) -> str:
    """The off-topic refusal; ``topics`` are real things the episode covers (not summary headings)."""
    msg = f"Not covered: {_where(titles)} doesn't discuss this, so I can't answer it from the episode."
    if topics:
        msg += " The closest topics it does cover: " + "; ".join(topics) + "."
    return msg


_GREETING = re.compile(r"^\W*(?:hi|hello|hey|hiya|yo|good (?:morning|afternoon|evening))(?:\s+there)?\W*$", re.I)
_THANKS = re.compile(r"^\W*(?:thanks?|thank you|thx|ty|cheers)(?: (?:so much|a lot|very much))?\W*$", re.I)
_ACKNOWLEDGED = re.compile(r"^\W*(?:ok(?:ay)?|great|cool|nice|got it|i see)\W*$", re.I)


def greeting_message(question: str, titles: list[str]) -> str | None:
    """A friendly reply to "hi" or "thanks" instead of "Not covered: ... doesn't discuss this" (still a
    refusal: nothing is cited); None for anything else.

    >>> greeting_message("hi!", ["RL + LLMs"]), greeting_message("hi, who is sholto?", ["RL + LLMs"])
    ('Hi! Ask me anything about “RL + LLMs”: every answer cites where it comes from.', None)
    """
    where = _where(titles)
    if _GREETING.match(question):
        return f"Hi! Ask me anything about {where}: every answer cites where it comes from."
    if _THANKS.match(question):
        return f"You're welcome. Ask me anything else about {where}."
    if _ACKNOWLEDGED.match(question):
        return f"Ask me anything else about {where}."
    return None


# --- suggestions: real things the episode covers, as questions ------------------------------------------
# a quote topic's first part is a category ("technical/interpretability"); the part after it is the thing
_CATEGORIES = {
    "technical", "strategy", "predictions", "business", "safety", "limitations", "insights", "technical insights",
}  # fmt: skip


def topic_candidates(retriever: HybridRetriever, episode: str | None) -> list[str]:
    """Things the episode(s) cover, most often labelled first: quote topics (their specific part:
    "alignment faking" of "safety/alignment faking"), the episode's tags and topics. Summary
    headings are not among them, nor entity names (transcript cuts like "Alice DV2")."""
    index = retriever.bm25_index()
    seen: dict[str, str] = {}
    counts: Counter = Counter()

    def add(label: str) -> None:
        label = " ".join(label.replace("-", " ").split()).strip(" .,")
        if 3 <= len(label) <= 40 and label.lower() not in _CATEGORIES and label.lower() not in STOP_WORDS:
            seen.setdefault(label.lower(), label)
            counts[label.lower()] += 1

    for text, md in zip(index.texts, index.metadatas):
        if episode is not None and md.get("episode_id") != episode:
            continue
        section = md.get("section")
        if section == "quotes" and md.get("topic"):
            for label in re.split(r",\s*", md["topic"]):
                parts = [p.strip() for p in label.split("/")]
                for p in parts[1:] if len(parts) > 1 else parts:
                    add(p)
        elif section == "overview":
            for line in text.splitlines():
                if line.startswith(("Tags:", "Topics:")):
                    for label in line.split(":", 1)[1].split(","):
                        add(label)
    return [seen[k] for k, _ in counts.most_common()]


def suggestions(
    retriever: HybridRetriever, question: str | None, flt: SearchFilter, threshold: float, n: int = 3
) -> list[str]:
    """Up to ``n`` questions about things the episode covers (only ones that clear the off-topic
    threshold themselves): nearest to ``question`` first, or, with no question (an off-topic one has
    no near neighbours worth the name), the things the episode labels most often."""
    if n <= 0:
        return []
    phrased, vectors = _suggestion_vectors(retriever, flt, threshold)
    if not phrased or question is None:
        return _distinct(phrased, n)
    q = np.asarray(retriever.store.embeddings.embed_query(question))
    return _distinct([phrased[i] for i in np.argsort(-(vectors @ q), kind="stable")], n)


def _distinct(phrased: list[str], n: int) -> list[str]:
    """The first ``n`` suggestions that are not another one said again: the same first word ("AI
    infrastructure", "AI capabilities"; "philosophy", "philosophical"), or the words of a shown one
    and more ("technology trends", "AI technology trends").

    >>> offered = ["… philosophy?", "… philosophical?", "… technology trends?", "… AI technology trends?", "… RL?"]
    >>> _distinct([o.replace("…", "What do they say about") for o in offered], 3)
    ['What do they say about philosophy?', 'What do they say about technology trends?', 'What do they say about RL?']
    """
    out, seen, shown = [], set(), []
    for p in phrased:
        label = p.removeprefix(_SUGGESTION.format("")[:-1]).strip("?").lower()
        head = label.split()[0][:6]  # philosophy/-ical
        words = {_stem(w) for w in label.split()}
        if head in seen or any(w <= words or words <= w for w in shown):
            continue
        seen.add(head)
        shown.append(words)
        out.append(p)
        if len(out) >= n:
            break
    return out


_SUGGESTION = "What do they say about {}?"
MAX_CANDIDATES = 200  # the most frequent labels, so a store of many episodes costs no more to prepare


def _suggestion_vectors(
    retriever: HybridRetriever, flt: SearchFilter, threshold: float
) -> tuple[list[str], np.ndarray]:
    """The scope's suggestions ("What do they say about X?") that the retriever does not refuse,
    with their embeddings: computed once per BM25 index (store revision), scope and threshold."""
    index = retriever.bm25_index()
    key = ("__suggestions__", flt.episode, threshold)
    with _lexicons_lock:
        cached = _lexicons.setdefault(index, {}).get(key)
    if cached is not None:
        return cached
    lex = lexicon(retriever, flt.episode)
    labels = topic_candidates(retriever, flt.episode)[:MAX_CANDIDATES]
    phrased = [_SUGGESTION.format(" ".join(lex.spell(w) if w.islower() else w for w in x.split())) for x in labels]
    embed, store = retriever.store.embeddings, retriever.store
    vectors = embed.embed_documents(phrased) if phrased else []
    kept = [i for i, v in enumerate(vectors) if any(c.similarity >= threshold for c in store.query(v, 1, flt))]
    # no suggestion clears the threshold (or there is nothing to suggest): an empty (0, dim) matrix
    dim = len(vectors[0]) if len(vectors) else 0
    cached = ([phrased[i] for i in kept], np.asarray([vectors[i] for i in kept], dtype=float).reshape(len(kept), dim))
    with _lexicons_lock:
        _lexicons.setdefault(index, {})[key] = cached
    return cached
