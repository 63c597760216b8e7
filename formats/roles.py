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
    r"|foto(?:graf(?:ie)?)?\s*:|aufnahme\s*:?|bild\s*:|fotograf\s*:?|bildautor\s*:?"
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
    r"photoreportage", r"phototh[èe]que", r"fototeca", r"archivio\s+fotografico", r"archivo\s+fotogr[áa]fico",
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
    r"neg(?:ative)?\.?\s*(?:no|nr|n°|#)", r"ref(?:erence)?\.?\s*(?:no\.?)?\s*[:#]?\s*\d", r"file\s*(?:no|#|:)",
    r"box\s+\d", r"folder\s+\d", r"return\s+to", r"please\s+return", r"do\s+not\s+remove", r"file\s+copy",
    r"\d+\s*col(?:umns?)?", r"crop(?:\s+here)?", r"refer\s+to", r"original", r"archiv(?:e|io|o)?", r"bitte\s+zur[üu]ck\w*",
    r"signatur", r"inv(?:entar)?\.?\s*(?:no|nr|n°)", r"retour\s+au", r"service\s+documentation", r"devolver",
    r"classement", r"cote", r"no\.\s*\d", r"nr\.\s*\d", r"n°\s*\d", r"n\.\s*\d",
)
_ADDRESS = re.compile(
    r"(?i:(?<![^\W\d_])(?:tel(?:e(?:phone|fon|fono|f))?\.?|t[ée]l[ée]phone|phone|fax|telex|ruf|fernruf|fernsprecher"
    r"|street|st\.|road|rd\.|avenue|ave\.?|lane|square|court|house|place|strasse|stra[ßs]e|str\.|platz|weg|gasse"
    r"|rue|boulevard|bd|via|viale|piazza|corso|calle|avda|avenida|plaza|paseo|p\.?o\.?\s*box|postfach|c\.?p\.?)"
    r"(?![^\W\d_]))"
    r"|\b\d{2,4}[-/ ]\d{2,4}[-/ ]\d{2,5}\b"            # a telephone number
    r"|\b[A-Z]{1,2}\d{1,2}[A-Z]?\s+\d[A-Z]{2}\b"        # a British post code (G44 3XW)
    r"|\b(?:London|Paris)\s+(?:[EWNS]{1,2}C?\s?\d{1,2}|\d{1,2}e?)\b"  # London EC4, Paris 8e
    r"|\b[DFIE]?-?\d{4,5}\s+[A-ZÄÖÜ][a-zäöüß]+"         # a continental post code before a town
)
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
    r"|\((?:AP|UPI|Reuters?|AFP|dpa|ANSA|EFE)\)\s*[-–—]"               # (AP) —
    r"|\s[-–—]{1,2}\s*$|\s--\s", re.IGNORECASE)
_SENTENCE_END = re.compile(r"[a-zà-ÿ]{3,}[.!?]\s*$")
_LETTER_WORD = re.compile(r"[^\W\d_]{2,}")


def is_date_text(text: str) -> bool:
    """Whether ``text`` holds something that reads as a date (a year, a numeric date, a day and month)."""
    return _DATE.search(text) is not None


def names_known_agency(text: str) -> bool:
    """Whether ``text`` holds a well-known agency's stamp form as whole words."""
    return _KNOWN_STAMPS.search(text) is not None


def credited_text(line: str) -> str | None:
    """What a credit line credits: the text after its last credit word, None without one."""
    cues = list(_CREDIT_CUE.finditer(line))
    return line[cues[-1].end():].strip(" :/-,.;") if cues else None


def _is_agency_only(text: str) -> bool:
    """Whether ``text`` (what a credit names) is an agency and nothing more: ``AP``, ``KEYSTONE``."""
    rest = _AGENCY_WORDS.sub(" ", _KNOWN_STAMPS.sub(" ", text))
    return not _LETTER_WORD.search(rest) and rest != text


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
    agency = names_known_agency(line) or _AGENCY_WORDS.search(line) is not None
    credited = credited_text(line)
    if credited is not None:
        if credited and not _is_agency_only(credited):
            roles.add(CREDIT)
        elif credited:
            agency = True
    if agency:
        roles.add(AGENCY)
    if _RECEIVED.search(line):
        roles.add(RECEIVED)
    if _NOTICE.search(line):
        roles.add(NOTICE)
    if _FILING.search(line):
        roles.add(FILING)
    if _ADDRESS.search(line) or (_HOUSE_NUMBER.search(line) and not is_date_text(line)):
        roles.add(ADDRESS)
    if RECEIVED not in roles and (_is_bare_date(line) or (_DATELINE_HEAD.search(line) and is_date_text(line))):
        roles.add(DATELINE)
    if not roles & {CREDIT, RECEIVED, NOTICE, DATELINE} and _is_caption(line):
        roles.add(CAPTION)
    return frozenset(roles) or frozenset({OTHER})


def roles_of(lines: Sequence[str]) -> list[frozenset[str]]:
    """``line_roles`` of each line, in order."""
    return [line_roles(line) for line in lines]


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
