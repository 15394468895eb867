"""A rule-based English pipeline that stands in for spaCy's ``en_core_web_sm`` inside unstructured.

unstructured (0.27) classifies unstyled text (is this paragraph narrative text or a title?) with
sentence splitting, word tokenizing and part-of-speech tags from ``en_core_web_sm``. The model is
not on PyPI: on first use unstructured downloads its wheel from GitHub and installs it into
site-packages, which fails offline (and should never happen at run time anyway). This module builds
a spaCy pipeline from components that ship with spaCy itself, so nothing is downloaded:

- the English tokenizer (the same rules the trained model uses, so word tokens are identical),
- the rule-based ``sentencizer`` (punctuation-based sentence boundaries), and
- an ``attribute_ruler`` that gives Penn Treebank verb tags (VB, VBZ, VBD, VBG) to a closed
  lexicon of common English verb forms, to the word after a modal, and to the word after a subject
  pronoun.

unstructured only asks the tags one question (``contains_verb``: does a one-sentence text contain a
verb?), so a lexicon answers it well enough for the uses that matter here: narrative text versus
uncategorized text (html, md, docx) and short heading lines in plain-text files. Tags are
deterministic: the same document parses the same way on every machine.
"""

from __future__ import annotations

from typing import cast

import spacy
from spacy.language import Language
from spacy.pipeline import AttributeRuler

# Penn Treebank tags (unstructured counts VB, VBG, VBD, VBN, VBP, VBZ as verbs; MD is not one).
_AUXILIARIES: dict[str, str] = {
    "be": "VB", "am": "VBP", "is": "VBZ", "are": "VBP", "was": "VBD", "were": "VBD",
    "been": "VBN", "being": "VBG", "have": "VBP", "has": "VBZ", "had": "VBD", "having": "VBG",
    "do": "VBP", "does": "VBZ", "did": "VBD", "done": "VBN", "doing": "VBG",
    "'m": "VBP", "'re": "VBP", "'ve": "VBP",
}  # fmt: skip
_MODALS = (
    "can", "could", "will", "would", "shall", "should", "may", "might", "must",
    "ca", "wo", "'ll", "'d",  # the tokenizer splits can't -> ca n't, won't -> wo n't
)  # fmt: skip
_SUBJECT_PRONOUNS = ("i", "we", "you", "they", "he", "she")
_NOT_A_VERB_AFTER_PRONOUN = (
    "also", "always", "never", "often", "still", "just", "only", "really", "now", "then",
    "usually", "sometimes", "all", "both", "and", "or", "not", "n't", "too", "first", "again",
)  # fmt: skip

# Irregular verbs: base -> (past, past participle).
_IRREGULAR: dict[str, tuple[str, str]] = {
    "become": ("became", "become"), "begin": ("began", "begun"), "break": ("broke", "broken"),
    "bring": ("brought", "brought"), "build": ("built", "built"), "buy": ("bought", "bought"),
    "catch": ("caught", "caught"), "choose": ("chose", "chosen"), "come": ("came", "come"),
    "cost": ("cost", "cost"), "cut": ("cut", "cut"), "deal": ("dealt", "dealt"),
    "draw": ("drew", "drawn"), "drive": ("drove", "driven"), "eat": ("ate", "eaten"),
    "fall": ("fell", "fallen"), "feel": ("felt", "felt"), "find": ("found", "found"),
    "fly": ("flew", "flown"), "forget": ("forgot", "forgotten"), "get": ("got", "gotten"),
    "give": ("gave", "given"), "go": ("went", "gone"), "grow": ("grew", "grown"),
    "hang": ("hung", "hung"), "hear": ("heard", "heard"), "hide": ("hid", "hidden"),
    "hit": ("hit", "hit"), "hold": ("held", "held"), "keep": ("kept", "kept"),
    "know": ("knew", "known"), "lead": ("led", "led"), "leave": ("left", "left"),
    "lend": ("lent", "lent"), "let": ("let", "let"), "lie": ("lay", "lain"),
    "lose": ("lost", "lost"), "make": ("made", "made"), "mean": ("meant", "meant"),
    "meet": ("met", "met"), "pay": ("paid", "paid"), "put": ("put", "put"),
    "read": ("read", "read"), "ride": ("rode", "ridden"), "ring": ("rang", "rung"),
    "rise": ("rose", "risen"), "run": ("ran", "run"), "say": ("said", "said"),
    "see": ("saw", "seen"), "seek": ("sought", "sought"), "sell": ("sold", "sold"),
    "send": ("sent", "sent"), "set": ("set", "set"), "shake": ("shook", "shaken"),
    "shine": ("shone", "shone"), "shoot": ("shot", "shot"), "show": ("showed", "shown"),
    "shut": ("shut", "shut"), "sing": ("sang", "sung"), "sit": ("sat", "sat"),
    "sleep": ("slept", "slept"), "speak": ("spoke", "spoken"), "spend": ("spent", "spent"),
    "split": ("split", "split"), "spread": ("spread", "spread"), "stand": ("stood", "stood"),
    "steal": ("stole", "stolen"), "stick": ("stuck", "stuck"), "strike": ("struck", "struck"),
    "swim": ("swam", "swum"), "take": ("took", "taken"), "teach": ("taught", "taught"),
    "tear": ("tore", "torn"), "tell": ("told", "told"), "think": ("thought", "thought"),
    "throw": ("threw", "thrown"), "understand": ("understood", "understood"),
    "wake": ("woke", "woken"), "wear": ("wore", "worn"), "win": ("won", "won"),
    "write": ("wrote", "written"), "withdraw": ("withdrew", "withdrawn"),
    "undergo": ("underwent", "undergone"), "overcome": ("overcame", "overcome"),
    "rebuild": ("rebuilt", "rebuilt"), "rerun": ("reran", "rerun"), "upset": ("upset", "upset"),
}  # fmt: skip

# Frequent regular verbs, including those of workplace and technical prose.
_REGULAR_VERBS = """
accept access add adjust agree allow answer appear apply approve arrange arrive ask assign assume
attach attend avoid back belong block book call cancel care carry cause change charge check
claim clean clear close collect combine compare complete confirm connect consider contact contain
continue contribute control copy correct count cover create decide decline define delete deliver
depend deploy describe design destroy detect determine develop die disable discuss display
download drop enable encourage end enjoy ensure enter escalate estimate evaluate exist expect
expire explain export fail fetch file fill finish fix follow force handle happen hate help hire
hope identify ignore implement import improve include increase indicate inform install intend
introduce invite involve join jump kill label last launch learn like limit link list listen live
load locate lock log look love maintain manage mark match matter measure mention merge migrate miss
monitor move name need notice notify observe obtain occur offer open operate order own park pass
pick place plan play point post prefer prepare present prevent print process produce promote
protect provide publish pull push qualify raise reach realize receive recommend record reduce
refer reflect refuse register reject release rely remain remember remove rename renew repair repeat
replace reply report request require reset resolve respond rest restart restore restrict retain
retire return review rotate save schedule scan search select serve share ship shut sign skip
solve sort start state stay stop store submit succeed suggest supply support suppose switch sync
talk test thank track train transfer travel treat trigger try turn update upgrade upload use
validate verify view visit wait walk want warn wash watch welcome wish wonder work worry
"""


def _third_person(verb: str) -> str:
    if verb.endswith(("s", "sh", "ch", "x", "z", "o")):
        return verb + "es"
    if verb.endswith("y") and verb[-2:-1] not in "aeiou":
        return verb[:-1] + "ies"
    return verb + "s"


def _past(verb: str) -> str:
    if verb.endswith("e"):
        return verb + "d"
    if verb.endswith("y") and verb[-2:-1] not in "aeiou":
        return verb[:-1] + "ied"
    if _doubles_final_consonant(verb):
        return verb + verb[-1] + "ed"
    return verb + "ed"


def _gerund(verb: str) -> str:
    if verb.endswith("ie"):
        return verb[:-2] + "ying"
    if verb.endswith("e") and not verb.endswith(("ee", "ye", "oe")):
        return verb[:-1] + "ing"
    if _doubles_final_consonant(verb):
        return verb + verb[-1] + "ing"
    return verb + "ing"


def _doubles_final_consonant(verb: str) -> bool:
    """stop -> stopped, plan -> planned; only short consonant-vowel-consonant words."""
    vowels = "aeiou"
    return (
        len(verb) <= 4
        and len(verb) >= 3
        and verb[-1] not in vowels + "wxy"
        and verb[-2] in vowels
        and verb[-3] not in vowels
    )


def verb_forms() -> dict[str, str]:
    """Each known verb form with its Penn Treebank tag (base forms are tagged VB)."""
    forms: dict[str, str] = {}
    for base in _REGULAR_VERBS.split():
        forms[base] = "VB"
        forms[_third_person(base)] = "VBZ"
        forms[_past(base)] = "VBD"
        forms[_gerund(base)] = "VBG"
    for base, (past, participle) in _IRREGULAR.items():
        forms[base] = "VB"
        forms[_third_person(base)] = "VBZ"
        forms[past] = "VBD"
        forms.setdefault(participle, "VBN")
        forms[_gerund(base)] = "VBG"
    forms.update(_AUXILIARIES)
    return forms


def rule_based_english() -> Language:
    """A spaCy English pipeline with sentence boundaries and verb tags, built without any model."""
    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    ruler = cast(AttributeRuler, nlp.add_pipe("attribute_ruler"))
    by_tag: dict[str, list[str]] = {}
    for form, tag in verb_forms().items():
        by_tag.setdefault(tag, []).append(form)
    for tag, forms in sorted(by_tag.items()):
        ruler.add(patterns=[[{"LOWER": {"IN": sorted(forms)}}]], attrs={"TAG": tag})
    ruler.add(patterns=[[{"LOWER": {"IN": list(_MODALS)}}]], attrs={"TAG": "MD"})
    # "it can wait", "we can't ship": the word after a modal (and an optional negation) is a verb.
    ruler.add(
        patterns=[
            [{"LOWER": {"IN": list(_MODALS)}}, {"IS_ALPHA": True}],
            [{"LOWER": {"IN": list(_MODALS)}}, {"LOWER": {"IN": ["not", "n't"]}}, {"IS_ALPHA": True}],
        ],
        attrs={"TAG": "VB"},
        index=-1,
    )
    # "we expect", "they ship": the word after a subject pronoun is usually a verb.
    ruler.add(
        patterns=[
            [
                {"LOWER": {"IN": list(_SUBJECT_PRONOUNS)}},
                {"IS_ALPHA": True, "LOWER": {"NOT_IN": list(_NOT_A_VERB_AFTER_PRONOUN + _MODALS)}},
            ]
        ],
        attrs={"TAG": "VBP"},
        index=1,
    )
    return nlp
