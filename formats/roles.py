"""What each OCR line of a press print is (SPEC §4b, §5b). Pure: ``re`` only, no Beam, no torch.

The back of a press print carries lines of a few kinds, written in the agency's or the archive's
language (the job's languages: en, de, fr, it, es):

* ``agency``: an agency's stamp or credit (``KEYSTONE PRESS AGENCY LTD``, ``AP WIREPHOTO``,
  ``dpa-Bild``, ``Agence Gamma``, ``Bilderdienst``, ``Picture Library``);
* ``credit``: a photographer's credit (``Photo by``, ``Foto:``, ``Cliché``, ``Fotografo``,
  ``©``/``(c)``, ``Credit:``, a line starting with ``by``), when what it credits is not an agency
  alone (``Photo: AP`` is an agency credit);
* ``received``: a stamp of receipt, filing, publication or library use (``RECEIVED``, ``FILED``,
  ``Eingang``, ``Reçu le``, ``Ricevuto``, ``Recibido``), whose date is not the photo's;
* ``dateline``: a wire caption's head (``LONDON, Oct. 3 (AP) --``, ``PARIS, 3 octobre --``), or a
  line that is only a date (``OCT 3 1963``, ``10.11.1989``);
* ``caption``: running text about the picture: several words, mostly lower case, or a sentence;
* ``address``: an address or telephone number (``Tel. 041-637-2005``, ``12 Fleet Street``,
  ``Rue``, ``Straße``, ``Via``, ``Calle``, a post code);
* ``filing``: an archive's filing mark or reference (``Neg. No. 1234``, ``Ref. 77/12``, ``Box 7``,
  ``RETURN TO LIBRARY``, ``4 COL``, ``Archiv``);
* ``notice``: a reproduction or copyright-usage notice (``Reproduction interdite``, ``Must credit``,
  ``Nur mit Quellenangabe``, ``Riproduzione vietata``, ``Prohibida la reproducción``,
  ``NOT FOR PUBLICATION``).

A line may have several roles (``AP Photo/John Smith`` is an agency and a credit line); one with none
of them is ``other`` (a bare name, a title in capitals, OCR debris). The patterns are general knowledge
of how press prints are stamped, each tested with written examples (tests/test_line_roles.py); they
are not fitted to any evaluation set.
"""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Sequence

from formats.evidence import AGENCY_STAMPS

AGENCY, CREDIT, RECEIVED, DATELINE, CAPTION, ADDRESS, FILING, NOTICE, OTHER = (
    "agency", "credit", "received", "dateline", "caption", "address", "filing", "notice", "other")
ROLES = (AGENCY, CREDIT, RECEIVED, DATELINE, CAPTION, ADDRESS, FILING, NOTICE, OTHER)

# What each role is, in words a cataloguer reads ("found only in an agency stamp").
ROLE_WORDS: dict[str, str] = {
    AGENCY: "an agency stamp or credit",
    CREDIT: "a photographer's credit",
    RECEIVED: "a received, filed or library stamp",
    DATELINE: "a dateline",
    CAPTION: "a caption",
    ADDRESS: "an address or telephone line",
    FILING: "an archive filing mark",
    NOTICE: "a reproduction or copyright notice",
    OTHER: "a line of no known kind",
}


def _words(*alternatives: str) -> re.Pattern[str]:
    """Case-insensitive alternatives, each bounded by non-letters (``\\b`` fails next to ``©`` or ``.``)."""
    return re.compile(r"(?<![^\W\d_])(?:" + "|".join(alternatives) + r")(?![^\W\d_])", re.IGNORECASE)


# Photographer credit words, then what follows them is the credited name.
_CREDIT_CUE = re.compile(
    r"(?:(?<![^\W\d_])(?:"
    r"photo(?:graph)?(?:ed)?\s+by|pictures?\s+by|picture\s*:|pic\s*:|photographer\s*:?|credit\s*(?:line)?\s*:?"
    r"|please\s+credit|courtesy(?:\s+of)?|copyright\s*:?|taken\s+by"
    r"|foto(?:graf(?:ie)?)?\s*:|aufnahme\s*:|bild\s*:|fotograf\s*:?|bildautor\s*:?"
    r"|photo\s*:|clich[ée]\s*:?|photographe\s*:?|cr[ée]dit\s+photo\s*:?|reportage\s*:?"
    r"|fotografo\s*:?|fotografia\s+di|foto\s+di|scatto\s+di|servizio\s+di"
    r"|fot[óo]grafo\s*:?|fotograf[íi]a\s+de|foto\s+de|reportaje\s*:?"
    r"|photo|foto"
    r")(?![^\W\d_])|©|\(\s*c\s*\)|^\s*by(?![^\W\d_]))",
    re.IGNORECASE)

# Words an agency's or a photo library's name is made of, in the five languages.
_AGENCY_WORDS = _words(
    r"press\s+agency", r"news\s*agency", r"photo\s*agency", r"picture\s+agency", r"agency", r"agence", r"agenzia",
    r"agencia", r"agentur", r"fotoagentur", r"bildagentur", r"wirephoto", r"telephoto", r"radiophoto", r"laserphoto",
    r"unifax", r"news\s*(?:photos?|pictures?|service|features?)", r"press\s+(?:photos?|pictures?|service|bureau)",
    r"photo\s+(?:service|news|press|library|archives?)", r"picture\s+(?:library|service|post|archives?)",
    r"bilderdienst", r"bildarchiv", r"bildstelle", r"pressebild(?:dienst)?", r"pressefoto", r"pressedienst",
    r"photoreportage", r"phototh[èe]que",
    r"(?:public|picture|photo(?:graphic)?|press|news|film|city|state|national|university)\s+(?:library|archives?)",
    r"biblioth[èe]que", r"biblioteca", r"bibliothek", r"filmarchiv", r"cin[ée]math[èe]que", r"cineteca",
    r"fototeca", r"archivio\s+fotografico", r"archivo\s+fotogr[áa]fico",
    r"foto\s*-?\s*(?:press|service|servizio)", r"publifoto", r"wide\s+world", r"newspictures", r"keystone",
    r"studios?", r"pictures\s+(?:corp(?:oration)?|inc|ltd)", r"(?:photos?|pictures)\s+(?:ltd|limited|inc|gmbh|s\.?a|s\.?p\.?a)",
    r"ltd", r"gmbh", r"s\.?\s?p\.?\s?a", r"s\.?\s?a\.?\s?r\.?\s?l",
)
# Stamp forms of the well-known agencies, as whole words; "A.P." also as "A. P." or "AP".
_KNOWN_STAMPS = _words(*sorted({re.escape(stamp).replace(r"\ ", r"[\s./-]*").replace(r"\.", r"\.?\s?")
                                for stamps in AGENCY_STAMPS.values() for stamp in stamps}, key=len, reverse=True))

_RECEIVED = _words(
    r"received", r"rec'?d", r"filed", r"library\s+copy", r"published", r"used", r"returned", r"date\s+stamp",
    r"eingang", r"eingegangen(?:\s+am)?", r"erhalten", r"ver[öo]ffentlicht", r"archiviert", r"abgelegt",
    r"re[çc]u(?:\s+le)?", r"class[ée](?:\s+le)?", r"publi[ée](?:\s+le)?", r"enregistr[ée]",
    r"ricevut[oa](?:\s+il)?", r"archiviat[oa]", r"pubblicat[oa]", r"pervenut[oa]",
    r"recibid[oa](?:\s+el)?", r"archivad[oa]", r"publicad[oa]", r"entrada",
)
_NOTICE = _words(
    r"reproduction\s+(?:interdite|r[ée]serv[ée]e|prohibited|forbidden|rights?)", r"droits?\s+r[ée]serv[ée]s",
    r"must\s+credit", r"mandatory\s+credit", r"not\s+for\s+(?:publication|sale|resale)", r"hold\s+for\s+release",
    r"no\s+(?:reproduction|syndication)", r"all\s+rights\s+reserved", r"for\s+editorial\s+use", r"embargo",
    r"nur\s+mit\s+(?:quellenangabe|genehmigung)", r"ver[öo]ffentlichung\s+nur", r"abdruck\s+nur", r"honorarpflichtig",
    r"belegexemplar", r"nachdruck\s+verboten", r"urheberrecht",
    r"riproduzione\s+(?:vietata|riservata)", r"diritti\s+riservati", r"vietata\s+la\s+riproduzione", r"non\s+pubblicare",
    r"prohibida\s+(?:la\s+)?reproducci[óo]n", r"reproducci[óo]n\s+prohibida", r"derechos\s+reservados",
    r"reservados\s+todos", r"copyright\s+reserved", r"published\s+by\s+permission", r"fee\s+payable",
)
_FILING = _words(
    r"neg(?:ative)?\.?\s*(?:no|nr|n°|#)", r"ref(?:erence)?\.?\s*(?:no\.?)?\s*[:#]?\s*[a-z]{0,2}\d", r"file\s*(?:no|#|:)",
    r"box\s+\d", r"folder\s+\d", r"return\s+to", r"please\s+return", r"do\s+not\s+remove", r"file\s+copy",
    r"\d+\s*col(?:umns?)?", r"crop(?:\s+here)?", r"refer\s+to", r"original", r"archiv(?:e|io|o)?", r"bitte\s+zur[üu]ck\w*",
    r"signatur", r"inv(?:entar)?\.?\s*(?:no|nr|n°)", r"retour\s+au", r"service\s+documentation", r"devolver",
    r"classement", r"cote", r"acc(?:ession)?\.?\s*no", r"no\.\s*\d", r"nr\.\s*\d", r"n°\s*\d", r"n\.\s*\d",
)
_PHONE = re.compile(
    r"(?i:(?<![^\W\d_])(?:tel(?:e(?:phone|fon|fono|f))?\.?|t[ée]l[ée]phone|phone|fax|telex|ruf|fernruf|fernsprecher"
    r"|p\.?\s?o\.?\s*box|postfach)(?![^\W\d_]))"
    r"|\b\d{2,4}[-/ ]\d{2,4}[-/ ]\d{2,5}\b"            # a telephone number
    r"|\b[A-Z]{1,2}\d{1,2}[A-Z]?\s+\d[A-Z]{2}\b"        # a British post code (G44 3XW)
    r"|\b(?:London|LONDON|Paris|PARIS)\s+(?:[EWNS]{1,2}C?\s?\d{1,2}|\d{1,2}e?)\b"  # London EC4, Paris 8e
    r"|\b[DFIE]?-?\d{4,5}\s+[A-ZÄÖÜ][a-zäöüß]+"         # a continental post code before a town
)
# Street words mark an address only beside a house number: "Plaza" or "Court" alone may be a name.
_STREET = re.compile(
    r"(?i:(?<![^\W\d_])(?:street|st\.|road|rd\.|avenue|ave\.?|lane|square|court|house|place|strasse|stra[ßs]e|str\."
    r"|platz|weg|gasse|allee|rue|boulevard|bd|quai|via|viale|piazza|corso|calle|avda|avenida|plaza|paseo)"
    r"(?![^\W\d_]))")
_NUMBER = re.compile(r"(?<![^\W\d_])\d{1,5}(?![^\W\d_])")
_HOUSE_NUMBER = re.compile(r"^\s*\d{1,4}[a-z]?,?\s+[^\W\d_]{3,}")  # 62 NETHERPARK AVENUE

# Month names and abbreviations of the five languages (dates.py parses; here they only mark dates).
_MONTHS = (
    r"jan(?:uary|vier|uar)?|feb(?:ruary|ruar)?|f[ée]v(?:rier)?|mar(?:ch|s|zo)?|m[äa]rz|apr(?:il)?|avr(?:il)?|"
    r"abr(?:il)?|aprile|may|mai|mag(?:gio)?|mayo|june?|juin|juni|giu(?:gno)?|jun(?:io)?|july?|juil(?:let)?|juli|"
    r"lug(?:lio)?|jul(?:io)?|aug(?:ust)?|ao[ûu]t|ago(?:sto)?|sept?(?:ember|embre|tembre|iembre)?|set(?:tembre)?|"
    r"oct(?:ober|obre)?|okt(?:ober)?|ott(?:obre)?|nov(?:ember|embre|iembre)?|dec(?:ember)?|d[ée]c(?:embre)?|"
    r"dez(?:ember)?|dic(?:embre|iembre)?"
)
_DATE = re.compile(
    r"(?<!\d)(?:1[89]\d\d|20[0-2]\d)(?!\d)"                            # a year
    r"|(?<!\d)\d{1,2}\s*[./-]\s*\d{1,2}\s*[./-]\s*(?:\d{2}|\d{4})(?!\d)"  # 3.10.60, 10/11/1989
    rf"|(?<![^\W\d_])(?:{_MONTHS})\.?(?![^\W\d_])\s*\d{{1,2}}(?!\d)"  # Oct. 3
    rf"|(?<!\d)\d{{1,2}}\.?\s*(?:{_MONTHS})(?![^\W\d_])",             # 3 octobre, 3. Oktober
    re.IGNORECASE)
_DATELINE_HEAD = re.compile(
    r"^\s*[A-ZÀ-Ý][A-ZÀ-Ý .'-]{2,}(?:\s*\([^)]*\))?\s*,\s*"            # LONDON, / NEW YORK (AP),
    r"|^\s*[A-ZÀ-Ý][a-zà-ÿ]+(?:\s[A-ZÀ-Ý][a-zà-ÿ]+)?,\s*(?=\d|[A-ZÀ-Ýa-zà-ÿ]{3,}\.?\s*\d)"  # Monteferrante, March 17
    r"|\((?:AP|UPI|UP|INS|Reuters?|AFP|dpa|ANSA|EFE)\)\s*[-–—]"      # (AP) —
    r"|\s[-–—]{1,2}\s*$|\s--\s")
# A labelled date: the archive's "Date:", a photographer's "Taken", "Aufnahme vom", "Pris le", "Scattata il".
_DATE_LABEL = _words(r"date\s*:", r"datum\s*:", r"data\s*:", r"fecha\s*:", r"taken(?:\s+on)?", r"aufnahme\s+vom",
                     r"aufgenommen(?:\s+am)?", r"pris(?:e)?\s+le", r"prise\s+de\s+vue", r"scattata\s+il",
                     r"tomada\s+el", r"date\s+taken")
_SENTENCE_END = re.compile(r"[a-zà-ÿ]{3,}[.!?]\s*$")
_LETTER_WORD = re.compile(r"[^\W\d_]{2,}")


def is_date_text(text: str) -> bool:
    """Whether ``text`` holds something that reads as a date (a year, a numeric date, a day and month)."""
    return _DATE.search(text) is not None


def names_known_agency(text: str) -> bool:
    """Whether ``text`` holds a well-known agency's stamp form as whole words."""
    return _KNOWN_STAMPS.search(text) is not None


# The wire services' "AP/John Smith", "(dpa/Horak)", "AFP PHOTO / Name": an agency, a slash, its photographer.
_SLASH_CREDIT = re.compile(r"\s*(?:photo|foto)?\s*/\s*(?P<name>[^/()]+)", re.IGNORECASE)
# A wire service's initials opening a credit: "UP/Name", "(INS Photo/Name)", at a line's or a bracket's start.
_WIRE_CODE = re.compile(r"(?:^|(?<=\())\s*[A-Z][A-Z.]{1,4}(?=\s*(?:PHOTO|Photo|FOTO|Foto)?\s*/)")


def _credited(line: str) -> list[tuple[str, bool]]:
    """What a line credits: (the name after an agency's stamp and a slash, True), then (the text
    after each credit word up to the next, False)."""
    credited = [(slash.group("name").strip(" :/-,.;"), True)
                for stamp in (*_KNOWN_STAMPS.finditer(line), *_WIRE_CODE.finditer(line))
                if (slash := _SLASH_CREDIT.match(line, stamp.end()))] if "/" in line else []
    cues = list(_CREDIT_CUE.finditer(line))
    if cues:  # "PHOTO SERVICE" is an agency's name, not a credit word
        inside_agency = [match.span() for match in _AGENCY_WORDS.finditer(line)]
        cues = [cue for cue in cues if not any(start <= cue.start() and cue.end() <= end for start, end in inside_agency)]
    return credited + [(line[cue.end():after.start() if after else len(line)].strip(" :/-,.;()"), False)
                       for cue, after in zip(cues, [*cues[1:], None])]


def _names_person(text: str, after_slash: bool) -> bool:
    """Whether credited ``text`` names a person: a capitalised word ("Photo SMYTH"; after a slash any
    word, "KEYSTONE / F. 8albi"), or two before an agency's name ("Fotograf: Aribert Meier
    INTERNATIONAL NEWS PHOTOS"). "Photographe de presse" and "PH/9783" name nobody; "Photo: AP",
    "Photo AGENCE PHOTOGRAPHIQUE DUPONT" and "Photo: NEUREUTHER PRESS PHOTOS" an agency."""
    agency = [match.start() for pattern in (_KNOWN_STAMPS, _AGENCY_WORDS) if (match := pattern.search(text))]
    if not agency:
        return (_LETTER_WORD if after_slash else _NAME_WORD).search(text) is not None
    return len(_NAME_WORD.findall(text[:min(agency)])) >= 2


def credited_text(line: str) -> str | None:
    """The person a credit line credits (the text after its credit word, or after an agency's stamp
    and a slash: ``AP/John Smith``); None when it credits no one (no credit, or an agency only)."""
    return next((text for text, after_slash in _credited(line) if _names_person(text, after_slash)), None)


def _names_agency(text: str) -> bool:
    return names_known_agency(text) or _AGENCY_WORDS.search(text) is not None


_NAME_WORD = re.compile(r"(?<![^\W\d_])[^\W\d_a-zà-ÿ][^\W\d_]+")  # a word of two letters or more, capitalised


_CONNECTORS = frozenset("and und et e y de von van der di da del la le du des of the mit avec con".split())


def is_name_line(line: str) -> bool:
    """Whether ``line`` reads as a name or a subject written on its own (``WILLIAM DOIG``, ``Russell
    Tohall``, ``THE BEATLES``, ``BRITTA SÖDING UND SIGISMUND LINDNER``): two to eight words, each
    capitalised or a connector, no digits, of no other role. On a print without a caption such a
    line is what the title names (SPEC §4b)."""
    words = line.split()
    return (2 <= len(words) <= 8 and not any(char.isdigit() for char in line)
            and all(word[:1].isupper() or word.casefold() in _CONNECTORS for word in words)
            and sum(len(_LETTER_WORD.findall(word)) > 0 and len(word) >= 3 for word in words) >= 1
            and line_roles(line) == {OTHER})


def _is_caption(line: str) -> bool:
    words = line.split()
    lowered = sum(word[:1].islower() for word in words)
    return (len(words) >= 5 and lowered >= 2) or (len(words) >= 4 and bool(_SENTENCE_END.search(line)))


def _is_bare_date(line: str) -> bool:
    """A line that is a date and little else (``OCT 3 1963``, ``10.11.1989``, ``maggio 1961``)."""
    rest = _DATE.sub(" ", line)
    rest = re.sub(rf"(?<![^\W\d_])(?:{_MONTHS}|de|del|di|le|am|the|of|den|im|el)\.?(?![^\W\d_])", " ", rest,
                  flags=re.IGNORECASE)
    return _DATE.search(line) is not None and not _LETTER_WORD.search(rest) and len(re.findall(r"\d", rest)) <= 2


@lru_cache(maxsize=65536)
def line_roles(line: str) -> frozenset[str]:
    """The roles of one OCR line (``ROLES``; ``{"other"}`` when none applies). See the module doc."""
    roles: set[str] = set()
    agency = _names_agency(line)
    credited = _credited(line)
    if any(_names_person(text, after_slash) for text, after_slash in credited):
        roles.add(CREDIT)
    if agency:
        roles.add(AGENCY)
    if _RECEIVED.search(line):
        roles.add(RECEIVED)
    if _NOTICE.search(line):
        roles.add(NOTICE)
    if _FILING.search(line):
        roles.add(FILING)
    if _PHONE.search(line) or (_STREET.search(line) and _NUMBER.search(line)) or (
            _HOUSE_NUMBER.search(line) and not is_date_text(line)):
        roles.add(ADDRESS)
    if RECEIVED not in roles and is_date_text(line) and (
            _is_bare_date(line) or _DATELINE_HEAD.search(line) or _DATE_LABEL.search(line)):
        roles.add(DATELINE)
    if not roles & {CREDIT, RECEIVED, NOTICE, DATELINE} and _is_caption(line):
        roles.add(CAPTION)
    return frozenset(roles) or frozenset({OTHER})


_TRADE_STEMS = ("photogra", "fotogra", "fotógra", "reporter", "journalist")  # cheap test before _TRAILING_TRADE


@lru_cache(maxsize=65536)
def _with_trade(line: str) -> frozenset[str]:
    """``line_roles``, and a credit when the line ends with a photographer's trade after a name."""
    folded = line.casefold()
    match = _TRAILING_TRADE.search(line) if any(trade in folded for trade in _TRADE_STEMS) else None
    if match is not None and _NAME_WORD.search(match.group("name")) is not None:
        return (line_roles(line) - {OTHER}) | {CREDIT}
    return line_roles(line)


# A freelance photographer's stamp: the name, then the trade ("PRESS PHOTOGRAPHER", "Fotoreporter").
_PROFESSION = re.compile(
    r"^\W*(?:press\s+photographer|photographer|photojournalist|news\s+photographer|fotoreporter|pressefotograf"
    r"|bildjournalist|bildberichterstatter|fotograf|photographe(?:\s+de\s+presse)?|reporter[\s-]photographe"
    r"|fotografo(?:\s+di\s+stampa)?|fot[óo]grafo(?:\s+de\s+prensa)?|reportero\s+gr[áa]fico)\W*$", re.IGNORECASE)


# A freelancer's stamp on one line: "Roberta MONDRAGÓN Freelance Photographer", "Hans Weber, Pressefotograf".
_TRAILING_TRADE = re.compile(
    r"^(?P<name>.*?[^\W\d_].*?)[\s,-]+(?:freelance\s+|press\s+|news\s+)?(?:photographer|photojournalist|fotoreporter"
    r"|pressefotograf|bildjournalist|photographe(?:\s+de\s+presse)?|fot[óo]grafo(?:\s+de\s+prensa|\s+di\s+stampa)?)"
    r"\W*$", re.IGNORECASE)


def roles_of(lines: Sequence[str]) -> list[frozenset[str]]:
    """``line_roles`` of each line of one side, in order, with what only neighbours tell: a line that
    states a photographer's trade ("PRESS PHOTOGRAPHER") credits the photographer, and so does the
    name line just before or after it."""
    roles = [_with_trade(line) for line in lines]
    for i, line in enumerate(lines):
        if _PROFESSION.search(line):
            roles[i] = frozenset({CREDIT})
            for j in (i - 1, i + 1):
                if 0 <= j < len(lines) and is_name_line(lines[j]):
                    roles[j] = roles[j] | {CREDIT}  # still "other": a print naming no one else titles it so
    return roles


# Per reviewed field (SPEC §4b): the roles of a line that can carry its value, and the roles that say
# the value is something else (a photographer in an agency stamp is the agency; a name in a caption is
# the subject; a date in a RECEIVED stamp is the day the print arrived). A line of neither kind (a bare
# name, ``other``) neither supports nor contradicts.
SUPPORTING: dict[str, frozenset[str]] = {
    "title": frozenset({CAPTION, DATELINE, OTHER}),
    "agency": frozenset({AGENCY, CREDIT, NOTICE, ADDRESS}),
    "photographer": frozenset({CREDIT, OTHER}),
    "date": frozenset({DATELINE, CAPTION, OTHER}),
}
CONTRADICTING: dict[str, frozenset[str]] = {
    "title": frozenset({AGENCY, CREDIT, RECEIVED, ADDRESS, NOTICE, FILING}),
    "agency": frozenset({CAPTION, DATELINE, RECEIVED, FILING}),
    "photographer": frozenset({AGENCY, CAPTION, DATELINE, RECEIVED, FILING, NOTICE}),
    "date": frozenset({RECEIVED}),
}
# The role whose line shows that an empty field should hold something (``missed:<field>``).
EXPECTED: dict[str, str] = {"title": CAPTION, "agency": AGENCY, "photographer": CREDIT, "date": DATELINE}


def contradicts(field: str, roles: frozenset[str]) -> bool:
    """Whether a line of ``roles`` says a ``field`` value found in it is something else."""
    return bool(roles & CONTRADICTING[field]) and not roles & SUPPORTING[field]
