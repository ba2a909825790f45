"""The Wikipedia Annotated Corpus tasks (wiki_reading, wiki_ner, wiki_dependency, wiki_pas, wiki_coreference), read from KNP with rhoknp.

One document is one example, written as llm-jp-eval 1.3.0's preprocessing writes it (checked sample for
sample against its output on the corpus' test and dev documents):

- The corpus splits parenthesised text (readings, glosses) off into sentences of their own (marked 括弧始,
  their host sentence 括弧削除). wiki_reading, wiki_dependency and wiki_coreference leave those sentences
  out of input and output. wiki_ner and wiki_pas put the first one back into its host sentence, in its
  brackets at its position; any further ones of the same host follow it as plain sentences, without
  brackets. Their annotations come from every sentence.
- Unit texts are the corpus' own, inner whitespace included; nothing is de-duplicated.
- wiki_reading writes the first of alternative readings (`にひゃく/にひゃっ`), spells out readings in
  capital letters (`XML` -> `えっくすえむえる`) and drops a blank reading of a non-blank word.
- wiki_ner: `text（category）` per named entity (OPTIONAL ones left out), joined by spaces.
- wiki_dependency: `source -> head` per phrase (bunsetsu), one a line.
- wiki_pas: per predicate, its whole phrase (trimmed of particles and symbols, a copula kept) then
  `case：argument` for ten cases (ガ２ written ガ), leaving out exophora and arguments inside the
  predicate's own phrase. Arguments and coreference mentions are the
  base phrase widened to its dependents within its phrase, trimmed of particles, symbols and copula.
- wiki_coreference: per entity with two or more mentions, its mentions in document order, one entity a
  line; entities are those of the main sentences alone (a link through a bracket sentence does not count).
- Documents with nothing to annotate (no named entity, say) are left out.
"""

from __future__ import annotations

import json
import logging
import re
from functools import lru_cache
from typing import Any, Callable, Iterator, Sequence

from rhoknp import BasePhrase, Document, Morpheme, Sentence
from rhoknp.cohesion import EndophoraArgument
from rhoknp.props import NamedEntityCategory

from evalkit.errors import EvalkitError
from evalkit.tasks.jaster.examples import Example, Splits
from evalkit.tasks.jaster.sources import DatasetFiles

NE_LABELS = {
    NamedEntityCategory.ORGANIZATION: "組織名",
    NamedEntityCategory.PERSON: "人名",
    NamedEntityCategory.LOCATION: "地名",
    NamedEntityCategory.ARTIFACT: "固有物名",
    NamedEntityCategory.DATE: "日付表現",
    NamedEntityCategory.TIME: "時刻表現",
    NamedEntityCategory.MONEY: "金額表現",
    NamedEntityCategory.PERCENT: "割合表現",
}
NE_SEPARATOR = " "
# The cases wiki_pas writes, in the order it writes them within a line; ガ２ (a second nominative) is written ガ.
PAS_CASES = ("ガ", "デ", "ト", "ニ", "ヘ", "ヲ", "カラ", "ガ２", "マデ", "ヨリ")
PAS_CASE_NAMES = {"ガ２": "ガ"}
FUNCTION_POS = frozenset({"助詞", "特殊", "判定詞"})  # trimmed off both ends of an argument or mention
PREDICATE_TRAILING_POS = frozenset({"助詞", "特殊"})  # trimmed off a predicate's end: its copula stays ('総称である')
# How capital letters are read out: llm-jp-eval spells a reading made only of capitals ('JR' -> 'じぇーあーる').
# The corpus attests all but Q, W, Y and Z, whose names here are the usual ones.
LETTER_NAMES = dict(zip(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
    "えー びー しー でぃー いー えふ じー えいち あい じぇー けー える えむ えぬ おー ぴー きゅー あーる えす てぃー "
    "ゆー ぶい だぶりゅー えっくす わい ぜっと".split(),
))

_CAPITALS = re.compile(r"[A-Z]+")
_BRACKET = re.compile(r"括弧始:(\S+) 括弧終:(\S+) 括弧位置:(\d+)")
_REL_TAG = re.compile(r"<rel [^>]*/>")
_REL_TYPE = re.compile(r'type="([^"]*)"')
_FULL_WIDTH_DIGITS = str.maketrans("0123456789", "０１２３４５６７８９")


def _case(rel_type: str) -> str:
    """A relation type as rhoknp files it: full-width digits, katakana ('ガ2', 'が' -> 'ガ２', 'ガ')."""
    return "".join(chr(ord(c) + 0x60) if "ぁ" <= c <= "ゖ" else c for c in rel_type.translate(_FULL_WIDTH_DIGITS))


# Which relation tags a parse keeps (see parse_knp).
_KEEP_RELATIONS: dict[str, Callable[[str], bool]] = {
    "none": lambda rel_type: False,
    "coreference": lambda rel_type: rel_type.startswith("="),  # =, =構, =役 and their ≒ forms: the entities
    "pas": lambda rel_type: _case(rel_type) in PAS_CASES,  # the cases wiki_pas writes
}


@lru_cache(maxsize=4096)
def parse_knp(knp: str, relations: str = "all") -> Document:
    """One document; rhoknp's warnings about the corpus' few unresolvable spans are not the user's business.

    `relations` says which relation tags to keep: "all", "pas" (those of the cases wiki_pas writes),
    "coreference" (those that make entities) or "none". Resolving them is most of rhoknp's time; a tag
    of one kind changes nothing the other tasks read (arguments are read without coreference, and
    argument tags only give a mention an entity of its own), so each task keeps only what it reads.
    """
    if relations != "all":
        keep = _KEEP_RELATIONS[relations]
        knp = _REL_TAG.sub(lambda m: m.group() if keep(_rel_type(m.group())) else "", knp)
    logger = logging.getLogger("rhoknp")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        return Document.from_knp(knp)
    finally:
        logger.setLevel(level)


def _rel_type(tag: str) -> str:
    match = _REL_TYPE.search(tag)
    return match.group(1) if match else ""


def is_bracket_sentence(sentence: Sentence) -> bool:
    return "括弧始" in (sentence.misc_comment or "")


def main_sentences(document: Document) -> list[Sentence]:
    return [s for s in document.sentences if not is_bracket_sentence(s)]


def without_bracket_sentences(knp: str) -> str:
    """The KNP without its bracket sentences, so that relations pointing into them are not resolved.

    wiki_coreference reads the document rebuilt from its main sentences alone: two mentions linked only
    through a bracket sentence are not one entity there, and so they are not here either.
    """
    kept: list[str] = []
    block: list[str] = []
    for line in knp.splitlines(keepends=True):
        block.append(line)
        if line.rstrip("\r\n") == "EOS":
            if not any(row.startswith("#") and "括弧始" in row for row in block):
                kept.extend(block)
            block = []
    kept.extend(block)
    return "".join(kept)


def restored_text(document: Document) -> str:
    """The document's text with its bracket sentences put back, as wiki_ner and wiki_pas write it.

    Only the sentence right after a 括弧削除 host goes back in, bracketed, at its recorded position
    (a character offset into the host); any further bracket sentences of the same host follow it as
    plain text, without brackets ('A（a）B。bc' for a host 'AB。' with bracket sentences a, b, c).
    """
    sentences = document.sentences
    out = []
    i = 0
    while i < len(sentences):
        text = sentences[i].text
        if "括弧削除" in (sentences[i].misc_comment or "") and i + 1 < len(sentences):
            match = _BRACKET.search(sentences[i + 1].misc_comment or "")
            if match is not None:
                opening, closing, position = match.group(1), match.group(2), int(match.group(3))
                text = text[:position] + opening + sentences[i + 1].text + closing + text[position:]
                i += 1
        out.append(text)
        i += 1
    return "".join(out)


def morpheme_reading(morpheme: Morpheme) -> str:
    reading = morpheme.reading.split("/")[0]  # alternatives 'にひゃく/にひゃっ': the first
    if _CAPITALS.fullmatch(reading):  # 'XML' -> 'えっくすえむえる'; mixed case ('BSh', 'Df') stays as it is
        return "".join(LETTER_NAMES[c] for c in reading)
    if not reading.strip() and morpheme.text.strip():  # a word read as a blank ('NG' read '　') reads as nothing
        return ""
    return reading


def _trimmed(morphemes: Sequence[Morpheme], leading: frozenset[str], trailing: frozenset[str]) -> str:
    start, end = 0, len(morphemes)
    while start < end and morphemes[start].pos in leading:
        start += 1
    while end > start and morphemes[end - 1].pos in trailing:
        end -= 1
    return "".join(m.text for m in morphemes[start:end])


def _subtree(base_phrase: BasePhrase) -> list[BasePhrase]:
    nodes = [base_phrase]
    for child in base_phrase.children:
        nodes.extend(_subtree(child))
    return nodes


def mention_text(base_phrase: BasePhrase) -> str:
    """An argument or coreference mention: the base phrase with those of its phrase that depend on it,
    trimmed of particles, symbols and copula at both ends ('代数' in '抽象代数学とは、' -> '抽象代数');
    the untrimmed span where nothing would be left ('A$、')."""
    subtree = {id(bp) for bp in _subtree(base_phrase)}
    morphemes = [m for bp in base_phrase.phrase.base_phrases if id(bp) in subtree for m in bp.morphemes]
    return _trimmed(morphemes, FUNCTION_POS, FUNCTION_POS) or "".join(m.text for m in morphemes)


def predicate_text(base_phrase: BasePhrase) -> str:
    """A predicate: its whole phrase (bunsetsu), trimmed of leading particles, symbols and copula and of
    trailing particles and symbols only, so that a copula stays ('運行区間の' -> '運行区間', '総称である。' ->
    '総称である'); the whole phrase where nothing would be left ('Dfa/Dfdで')."""
    phrase = base_phrase.phrase
    return _trimmed(list(phrase.morphemes), FUNCTION_POS, PREDICATE_TRAILING_POS) or phrase.text


def reading(document: Document) -> tuple[str, str]:
    sentences = main_sentences(document)
    return "".join(s.text for s in sentences), "".join(morpheme_reading(m) for s in sentences for m in s.morphemes)


def named_entities(document: Document) -> tuple[str, str]:
    return restored_text(document), NE_SEPARATOR.join(
        f"{ne.text}（{NE_LABELS[ne.category]}）" for ne in document.named_entities if ne.category in NE_LABELS
    )


def dependencies(document: Document) -> tuple[str, str]:
    sentences = main_sentences(document)
    return "".join(s.text for s in sentences), "\n".join(
        f"{phrase.text} -> {phrase.parent.text}"
        for sentence in sentences
        for phrase in sentence.phrases
        if phrase.parent is not None
    )


def predicate_arguments(document: Document) -> tuple[str, str]:
    lines = []
    for pas in document.pas_list:
        predicate = pas.predicate.base_phrase
        parts = [
            f"{PAS_CASE_NAMES.get(case, case)}：{mention_text(argument.base_phrase)}"
            for case in PAS_CASES
            for argument in pas.get_arguments(case, relax=False)
            if isinstance(argument, EndophoraArgument) and argument.base_phrase.phrase != predicate.phrase
        ]
        if parts:
            lines.append(" ".join([predicate_text(predicate), *parts]))
    return restored_text(document), "\n".join(lines)


def coreference_clusters(document: Document) -> tuple[str, str]:
    """Expects the document without its bracket sentences (see `without_bracket_sentences`)."""
    mentions: dict[int, list[BasePhrase]] = {}
    for base_phrase in document.base_phrases:  # document order, so clusters come in order of first mention
        for entity in base_phrase.entities:
            mentions.setdefault(entity.eid, []).append(base_phrase)
    return document.text, "\n".join(
        " ".join(mention_text(bp) for bp in members) for members in mentions.values() if len(members) > 1
    )


# Each task's (input, output) of one document.
CONVERTERS: dict[str, Callable[[Document], tuple[str, str]]] = {
    "wiki_reading": reading,
    "wiki_ner": named_entities,
    "wiki_dependency": dependencies,
    "wiki_pas": predicate_arguments,
    "wiki_coreference": coreference_clusters,
}


# Text a document's KNP must contain for the task to have anything to annotate; documents without it
# are skipped before the (slow) parse, with the same result.
REQUIRED_MARKUP = {"wiki_ner": "<NE:", "wiki_pas": '<rel type="', "wiki_coreference": '<rel type="='}
# The relation tags each task needs parsed (see parse_knp).
RELATIONS = {"wiki_pas": "pas", "wiki_coreference": "coreference"}


def parse_for(task: str, knp: str) -> Document | None:
    """The document as the task reads it, or None where the KNP has nothing for it to annotate."""
    markup = REQUIRED_MARKUP.get(task)
    if markup is not None and markup not in knp:
        return None
    if task == "wiki_coreference":
        knp = without_bracket_sentences(knp)
    return parse_knp(knp, RELATIONS.get(task, "none"))


def convert(task: str, document: Document) -> tuple[str, str] | None:
    """One document's (input, output) for the task, or None where llm-jp-eval leaves the document out
    (nothing to annotate)."""
    text, output = CONVERTERS[task](document)
    return (text, output) if output.strip() else None


def _local_documents(files: DatasetFiles, split: str) -> Iterator[tuple[str, str]]:
    path = files.path(f"wac_v1.1.2_{split}.jsonl")
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row: dict[str, Any] = json.loads(line)
            except json.JSONDecodeError as exc:
                raise EvalkitError(f"{path}:{lineno}: not valid JSON ({exc.msg})") from None
            if not isinstance(row, dict) or "knp" not in row or "doc_id" not in row:
                raise EvalkitError(f"{path}:{lineno}: expected an object with doc_id and knp")
            yield row["doc_id"], row["knp"]


def _online_documents(files: DatasetFiles, split: str) -> Iterator[tuple[str, str]]:
    extra = files.source.extra
    ids_path = files.path(f"id/{split}.id", extra["id_url"].format(split=split))
    for doc_id in ids_path.read_text(encoding="utf-8").split():
        name = f"knp/{doc_id[:8]}/{doc_id}.knp"
        path = files.path(name, extra["knp_url"].format(prefix=doc_id[:8], doc_id=doc_id))
        yield doc_id, path.read_text(encoding="utf-8")


def _examples(task: str, documents: Iterator[tuple[str, str]], limit: int | None) -> list[Example]:
    out = []
    for doc_id, knp in documents:
        if limit is not None and len(out) >= limit:
            break
        try:
            document = parse_for(task, knp)
        except Exception as exc:  # rhoknp raises plain exceptions on malformed KNP
            raise EvalkitError(f"jaster:{task}: document {doc_id} is not readable KNP ({type(exc).__name__}: {exc})") from None
        pair = convert(task, document) if document is not None else None
        if pair is not None:
            out.append(Example(pair[0], pair[1], id=doc_id))
    return out


def load_wiki(task: str) -> Callable[[DatasetFiles], Splits]:
    """The loader of one wiki task. Locally the few-shots come from dev (the data folder has no train split)."""

    def load(files: DatasetFiles) -> Splits:
        if files.offline:
            test = _examples(task, _local_documents(files, "test"), files.max_test)
            shots = _examples(task, _local_documents(files, "dev"), files.max_fewshot)
            return Splits(test=test, fewshot=shots, fewshot_source="dev",
                          notes=("the data folder has no train split: few-shots come from dev",))
        test = _examples(task, _online_documents(files, "test"), files.max_test)
        shots = _examples(task, _online_documents(files, "train"), files.max_fewshot)
        return Splits(test=test, fewshot=shots, fewshot_source="train")

    return load
