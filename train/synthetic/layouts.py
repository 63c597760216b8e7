"""Layouts: how a press print carries its facts. Each layout builds a back and a front out of lines of
words, and every word carries the label field it belongs to (``Word.tag``), so the labels are read off
the OCR'd words after noise (``labels.read_labels``).

The layouts (``LAYOUTS``, with their shares of the stream):

* ``typed_slip`` — a typed caption slip pasted on the back (often under a "CAPTION:" / "Légende"
  header): the subject as its first line, then the text wrapped to a narrow column, the date in it
  ("on 12 March 1962") or as a dateline ("LONDON, 12 March 1962 -"); stamps around it.
* ``wire_caption`` — a wire photo's caption: the subject in capitals, a dateline with the agency's code
  (``NEW YORK, Oct. 3 (AP) —``), the text, the service's footer and often "(AP Photo/NAME)".
* ``stamped_back`` — several stamps: agency, photographer (often with address), library, "RECEIVED"
  with its own later date, and a one-line note naming the subject (and place).
* ``clipping`` — a newspaper clipping: the caption is on the front; the back is the reverse page's
  newsprint (other people's names: not this photo's) with a stamp or two.
* ``museum_label`` — a museum or library catalogue label: institution, Subject/Sujet/Motiv/Asunto/
  Soggetto, place, date, photographer, inventory number.
* ``no_caption`` — only stamps. When the only name on the print is a freelancer's stamp, that name is
  the title and not the photographer (SPEC §4's example); when the credit is explicit ("Photo by")
  the name is the photographer and the print names no subject (empty title).

Pencil notes (sizing and crop marks that OCR as garbage), library marks and references are laid over
every layout by the generator.
"""
from __future__ import annotations

import random
import re
from dataclasses import dataclass, field, replace

from train.synthetic.labels import Line, Word, words
from train.synthetic.vocabulary import (
    AGENCY_CREDIT_WORDS, AND, CAPTION_DATE_INTROS, CAPTION_HEADERS, CONDITIONS, CREDIT_FORMS, DASHES, DATE_PREFIXES,
    EVENT_CAPTIONS, EVENT_SUBJECTS, EXTRA_SENTENCES, HONORIFICS, INSTITUTIONS, LABEL_FIELD_NAMES,
    ORGS, PERSON_CAPTIONS, PHONE_FORMS, REF_FORMS, ROLES, UNKNOWN_AGENCY_PATTERNS, WHEN, WIRE_CODES, WIRE_CREDITS,
    LIBRARY_MARKS, PENCIL_NOTES, Agency, Names,
)
from train.synthetic.noise import GARBAGE

# Share of credits printed with no credit word: a bare name on its own line, or a freelancer's
# rubber stamp. These are the hard ones (the name must be told from stamps, addresses and agency
# lines by its form alone); training may ask for more of them than the archives' default mix.
UNCUED_CREDITS = 0.28
_CUED_CREDITS = 1.0 - UNCUED_CREDITS

LAYOUTS = {"typed_slip": 0.30, "wire_caption": 0.18, "stamped_back": 0.15, "clipping": 0.12,
           "museum_label": 0.10, "no_caption": 0.15}


@dataclass
class Scene:
    """The facts of one print, drawn before its layout: what the labels will name."""

    lang: str
    people: list[tuple[str, str, bool]]   # (first, last, female); people[0] is the subject of a person caption
    c: str                                # where it happened
    c2: str                               # another place a caption may mention
    event: str | None                     # an EVENT_CAPTIONS kind when no person is the subject
    ymd: tuple[int, int, int]
    date_text: str                        # the photo's date as printed
    precision: str                        # "day", "month" or "year"
    agency: Agency | None = None          # a well-known agency (labelled by its canonical name)
    agency_name: str = ""                 # another agency, as printed
    photographer: str = ""                # the photographer's name as printed ("" when not credited)


@dataclass
class Sheet:
    """A layout's output: back blocks (shuffled with the overlays; a block's lines stay together), the
    caption block and where it goes on the back, the front, and facts kept for tests."""

    blocks: list[list[Line]] = field(default_factory=list)
    caption: list[Line] = field(default_factory=list)
    caption_at: str = "any"               # "first", "last" or "any" (ignored without a caption)
    front: list[Line] = field(default_factory=list)
    subject: str = ""                     # the subject as printed ("" when the print names none)
    dated: bool = True                    # whether the photo's date is printed


def name_as_printed(rng: random.Random, first: str, last: str) -> str:
    style = rng.choices(("plain", "upper", "initial", "initial_upper", "last_upper", "surname"),
                        (0.38, 0.27, 0.12, 0.08, 0.1, 0.05))[0]
    initials = ".".join(part[0] for part in first.split()) + "."
    return {
        "plain": f"{first} {last}", "upper": f"{first} {last}".upper(), "initial": f"{initials} {last}",
        "initial_upper": f"{initials} {last}".upper(), "last_upper": f"{first} {last.upper()}",
        "surname": last.upper() if rng.random() < 0.5 else last,
    }[style]


def credit(rng: random.Random, names: Names, lang: str, shown: str, agency: Agency | None,
           uncued_credits: float = UNCUED_CREDITS, cued_only: bool = False, bare_ok: bool = True) -> list[Line]:
    """A photographer's credit: "Photo by NAME", "AP Photo/NAME", a bare name, or a freelancer's stamp.

    ``cued_only``: always with a credit word (on a print that names no subject a bare name is read as the
    subject, SPEC §4). ``bare_ok=False``: no bare name line (where a one-line note names the subject, a
    bare name beside it could be either); a freelancer's stamp instead.
    """
    cued = _CUED_CREDITS   # r < cued: a credit word; above it a bare name or a stamp
    r = rng.random()
    if uncued_credits != UNCUED_CREDITS:
        # Stretch r so that [0, 1 - u) maps onto the cued forms and the rest onto the uncued ones,
        # each keeping its inner proportions; the default share leaves r (and every record) as is.
        u = uncued_credits
        r = r * cued / (1.0 - u) if r < 1.0 - u else cued + (r - (1.0 - u)) * UNCUED_CREDITS / u
    if " " not in shown or cued_only:  # a lone surname is only recognisable with a credit word before it
        r *= cued
    if agency is not None and agency.credit and r < 0.3:
        short = rng.choice(agency.credit)
        sep = rng.choice((" / ", "/", " PHOTO / ", " Photo by ", " photo: "))
        head = words(short + sep.rstrip() if sep.endswith(" ") else short + sep, "canonical")
        if sep.endswith("/") and not sep.startswith(" "):
            name = words(shown, "photographer")
            name[0].glue = True
            return [head + name]
        return [head + words(shown, "photographer")]
    if r < cued:
        form = rng.choice(CREDIT_FORMS[lang if rng.random() < 0.7 else "en"])
        before, after = form.split("{n}")
        return [words(before) + words(shown, "photographer") + words(after)]
    if r < 0.85 and bare_ok:  # a bare name on its own line
        return [words(shown, "photographer")]
    return freelance_stamp(rng, names, lang, shown, "photographer")


def freelance_stamp(rng: random.Random, names: Names, lang: str, shown: str, tag: str) -> list[Line]:
    """A freelancer's rubber stamp: the name (tagged ``tag``), maybe a union number, an address, a phone."""
    name_line = words(shown, tag)
    if rng.random() < 0.3:
        name_line += words(f"(NUJ {rng.randint(1, 99):02d})")
    lines = [name_line]
    if rng.random() < 0.5:
        lines.append(words(rng.choice(("Press Photographer", "PRESS PHOTOGRAPHER", "Photographe de presse",
                                       "Bildjournalist", "Fotógrafo de prensa", "Fotoreporter",
                                       "Freelance Photographer"))))
    lines += address(rng, names, lang, "place" if tag == "title" else None)
    if rng.random() < 0.6:
        lines.append(words(phone(rng)))
    return lines


def address(rng: random.Random, names: Names, lang: str, city_tag: str | None = None) -> list[Line]:
    """A street and a city line (maybe a country); the city's words are tagged ``city_tag``."""
    if rng.random() < 0.35:
        return []
    street_word = {"en": ("Street", "Road", "Avenue", "Lane", "Square", "Place"),
                   "fr": ("rue", "avenue", "boulevard", "place"),
                   "de": ("straße", "weg", "platz", "allee"),
                   "es": ("Calle", "Avenida", "Plaza", "Paseo"),
                   "it": ("Via", "Corso", "Piazza", "Viale")}[lang]
    name = names.surname(rng, names.culture(rng, lang))
    n = rng.randint(1, 240)
    kind = rng.choice(street_word)
    street = {"en": f"{n} {name} {kind}", "fr": f"{n}, {kind} {name}", "de": f"{name}{kind} {n}",
              "es": f"{kind} {name}, {n}", "it": f"{kind} {name} {n}"}[lang]
    city = names.place(rng, lang)
    postcode = rng.choice(("", f"{rng.randint(1000, 99999)} ", f"{rng.choice('ENSW')}{rng.randint(1, 20)} "))
    if lang == "en":
        city_line = words(city.upper(), city_tag) + words(postcode)
    else:
        city_line = words(postcode) + words(city, city_tag)
    lines = [words(street), city_line]
    if rng.random() < 0.25:
        lines.append(words(rng.choice(("ENGLAND", "SCOTLAND", "FRANCE", "GERMANY", "ITALIA", "ESPAÑA", "U.S.A.",
                                       "SUISSE", "BELGIQUE", "ÖSTERREICH"))))
    return lines


def phone(rng: random.Random) -> str:
    form = rng.choice(PHONE_FORMS)
    return re.sub(r"\{(\d)\}", lambda mo: "".join(str(rng.randint(0, 9)) for _ in range(int(mo.group(1)))), form)


def ref(rng: random.Random) -> str:
    return rng.choice(REF_FORMS).format(
        n=rng.randint(10, 99999), m=rng.randint(1, 999),
        a=rng.choice("ABCDEFGHKLMNPRSTW") + (rng.choice("ABCDEFGHKLMNPRSTW") if rng.random() < 0.3 else ""))


def wrap(rng: random.Random, body: list[Word], width: int) -> list[Line]:
    """Words set in lines of at most ``width`` characters; long caption words are sometimes hyphenated."""
    lines: list[Line] = [[]]
    length = 0
    for w in body:
        if length and length + 1 + len(w.text) > width:
            if len(w.text) >= 8 and w.tag == "description" and w.text.isalpha() and rng.random() < 0.25:
                cut = rng.randint(3, len(w.text) - 3)  # hyphenate across the line break
                lines[-1].append(Word(w.text[:cut] + "-", w.tag))
                lines.append([Word(w.text[cut:], w.tag, hyphen_cont=True)])
                length = len(w.text) - cut
                continue
            lines.append([])
            length = 0
        lines[-1].append(replace(w, hyphen_cont=False))
        length += len(w.text) + (1 if length else 0)
    return [line for line in lines if line]


# ---------------------------------------------------------------------------------------
# Stamps


def unknown_agency(rng: random.Random, names: Names, lang: str) -> str:
    """The name of an agency that is not well known, as its stamp prints it (built from the split's pools)."""
    surname = names.surname(rng, names.culture(rng, lang))
    pattern = rng.choice(UNKNOWN_AGENCY_PATTERNS[lang if rng.random() < 0.75 else "en"])
    name = pattern.format(L=surname, L2=names.surname(rng, "en"), C=names.place(rng, lang))
    if pattern.isupper() or (pattern.split()[0].isupper() and rng.random() < 0.5):
        name = name.upper()
    return name


def agency_stamp(rng: random.Random, names: Names, scene: Scene) -> list[Line]:
    """The agency's stamp: its name (or "Foto: dpa"), maybe an address, conditions of use, a phone number.

    A well-known agency's name is tagged ``canonical`` (labelled by its canonical name), another's ``agency``;
    both ``stamp`` (a print without a caption is described by restating its stamps).
    """
    lang = scene.lang
    if scene.agency is not None:
        agency = scene.agency
        if rng.random() < 0.15:
            short = rng.choice(agency.credit) if agency.credit else rng.choice(agency.stamps)
            lines = [words(rng.choice(AGENCY_CREDIT_WORDS[lang])) + words(short, "canonical+stamp")]
        else:
            lines = [words(rng.choice(agency.stamps), "canonical+stamp")]
        if agency.addresses and rng.random() < 0.6:
            lines += [words(a) for a in rng.choice(agency.addresses)]
        if rng.random() < 0.45:
            conds = CONDITIONS[agency.lang if rng.random() < 0.7 else lang]
            lines += [words(c) for c in rng.sample(conds, rng.choice((1, 1, 2)))]
        if rng.random() < 0.2:
            lines.append(words(phone(rng)))
        return lines
    lines = [words(scene.agency_name, "agency+stamp")]
    if rng.random() < 0.12:
        lines[0] = words(rng.choice(AGENCY_CREDIT_WORDS[lang])) + lines[0]
    lines += address(rng, names, lang)
    if rng.random() < 0.5:
        lines.append(words(phone(rng)))
    if rng.random() < 0.3:
        lines.append(words(rng.choice(CONDITIONS[lang])))
    return lines


def stamps(rng: random.Random, names: Names, scene: Scene, uncued_credits: float, *, agency: bool = True,
           photographer: bool = True, cued_only: bool = False, bare_ok: bool = True) -> list[list[Line]]:
    """The agency's stamp and the photographer's credit, each a block, when the scene has them."""
    blocks = []
    if agency and (scene.agency is not None or scene.agency_name):
        blocks.append(agency_stamp(rng, names, scene))
    if photographer and scene.photographer:
        blocks.append(credit(rng, names, scene.lang, scene.photographer, scene.agency, uncued_credits,
                             cued_only=cued_only, bare_ok=bare_ok))
    return blocks


def date_lines(rng: random.Random, scene: Scene, where: str) -> list[list[Line]]:
    """The photo's date as a stamp ("12 MAR 1962") or after a prefix ("Date:", "Aufnahme vom")."""
    if where == "stamp":
        return [[words(scene.date_text, "date")]]
    if where == "prefixed":
        return [[words(rng.choice(DATE_PREFIXES[scene.lang])) + words(scene.date_text, "date")]]
    return []


def pencil_note(rng: random.Random) -> Line:
    """A pencil mark (crop or size, a filing number, a scribble) as OCR reads it: mostly garbage."""
    text = rng.choice(PENCIL_NOTES) if rng.random() < 0.7 else "".join(
        rng.choice("aeilmnortuvwxJTW1479") for _ in range(rng.randint(2, 6)))
    garbled = "".join(ch if rng.random() > 0.35 else rng.choice("~-_.,:;'1lI|/()ri") for ch in text)
    return words(garbled) or words("~")


# ---------------------------------------------------------------------------------------
# Captions


def _name(person: tuple[str, str, bool]) -> str:
    return f"{person[0]} {person[1]}"


def person_subject(rng: random.Random, scene: Scene, template: str, wire: bool) -> str:
    """The subject's name as a caption's first line: mostly capitals, sometimes with a rank, or two people."""
    lang, name = scene.lang, _name(scene.people[0])
    if "{p2}" in template and rng.random() < 0.12:
        return f"{name} {AND[lang]} {_name(scene.people[1])}".upper()
    r = rng.random()
    if r < (0.25 if wire else 0.12):
        return f"{rng.choice(HONORIFICS[lang])} {name.upper()}"
    return name.upper() if wire or r < 0.75 else name


def event_subject(rng: random.Random, scene: Scene) -> str:
    return rng.choice(EVENT_SUBJECTS[scene.lang][scene.event]).format(C=scene.c.upper(), c=scene.c)


@dataclass
class Caption:
    """A caption's words: its first line and its text, tagged with the fields they belong to."""

    head: Line | None       # the first line naming the subject (tagged title), or None
    body: list[Word]        # the text, tagged description (the subject's name in it tagged title without a head)
    subject: str            # the subject as printed
    dated: bool             # whether the date is in the text ("on 12 March 1962")


def caption(rng: random.Random, scene: Scene, heading: float, inline_date: bool, wire: bool = False) -> Caption:
    """A caption about the scene; with probability ``heading`` its first line names the subject."""
    lang = scene.lang
    person = scene.event is None
    template = rng.choice(PERSON_CAPTIONS[lang]) if person else EVENT_CAPTIONS[lang][scene.event]
    head = None
    if rng.random() < heading:
        subject = person_subject(rng, scene, template, wire) if person else event_subject(rng, scene)
        head = words(subject, "title")
    else:
        subject = _name(scene.people[0]) if person else scene.c
    role = rng.choice(ROLES[lang]).format(c2=scene.c2)
    when = rng.choice(WHEN[lang])
    dated = inline_date and "{when}" in template
    if dated:
        when = " \x02 \x00"
    p = "\x01" if person else _name(scene.people[0])
    c = scene.c if person else "\x01"
    text = template.format(p=p, p2=_name(scene.people[1]), p3=_name(scene.people[2]), c=c, c2=scene.c2,
                           role=role, org=rng.choice(ORGS[lang]), when=when)
    text = text[0].upper() + text[1:]
    if rng.random() < 0.25:
        text += " " + rng.choice(EXTRA_SENTENCES[lang])
    body: list[Word] = []
    for token in text.split():
        if token.startswith("\x01"):  # the subject's name; trailing punctuation belongs to the text only
            tail = token[1:]
            named = words(_name(scene.people[0]) if person else scene.c,
                          "description" if head is not None else "title+description")
            named[-1].text += tail
            named[-1].tail = tail
            body += named
        elif token == "\x02":  # "on", "le", "am": dropped from the description with the date
            body.append(Word(CAPTION_DATE_INTROS[lang][0]))
        elif token.startswith("\x00"):  # the date: it leads the description instead
            tail = token[1:]
            dated_words = words(scene.date_text, "date")
            dated_words[-1].text += tail
            dated_words[-1].tail = tail
            body += dated_words
        else:
            body.append(Word(token, "description"))
    return Caption(head, body, subject, dated)


def dateline(rng: random.Random, scene: Scene, code: str | None = None) -> list[Word]:
    """ "LONDON, 12 March 1962 -" or a wire's "NEW YORK, Oct. 3 (AP) —": place and date lead the text."""
    place = scene.c.upper() if code is not None or rng.random() < 0.6 else scene.c
    out = words(place, "place") + [Word(",", glue=True)] + words(scene.date_text, "date")
    if code is not None:
        out += words(f"({code})", "canonical")  # the wire service's code names the agency
    return out + words(rng.choice(DASHES if code is not None else DASHES + (":",)))


def caption_lines(rng: random.Random, cap: Caption, body: list[Word], width: int) -> list[Line]:
    head = []
    if cap.head is not None:
        head = [cap.head]
        if len(cap.head) > 2 and len(cap.subject) > 24 and rng.random() < 0.15:  # a first line set on two
            cut = rng.randint(1, len(cap.head) - 1)
            head = [cap.head[:cut], cap.head[cut:]]
    return head + wrap(rng, body, width)


def newsprint(rng: random.Random, names: Names, lang: str) -> list[Line]:
    """The reverse of a clipping: cut lines of another story (other people's names: not this photo's)."""
    people = [_name(names.person(rng, lang)) for _ in range(3)]
    text = rng.choice(PERSON_CAPTIONS[lang]).format(
        p=people[0], p2=people[1], p3=people[2], c=names.place(rng, lang), c2=names.place(rng, lang),
        role=rng.choice(ROLES[lang]).format(c2=names.place(rng, lang)), org=rng.choice(ORGS[lang]),
        when=rng.choice(WHEN[lang]))
    ws = words(text + " " + rng.choice(EXTRA_SENTENCES[lang]))
    lines = wrap(rng, ws[rng.randint(0, 3):], rng.randint(24, 40))
    return lines[: rng.randint(2, 6)]


# ---------------------------------------------------------------------------------------
# Layouts


def typed_slip(rng: random.Random, names: Names, scene: Scene, uncued_credits: float) -> Sheet:
    sheet = Sheet()
    where = rng.choices(("inline", "dateline", "stamp", "prefixed", "none"), (0.2, 0.15, 0.3, 0.2, 0.15))[0]
    if scene.precision == "year" and where in ("inline", "dateline"):
        where = "stamp"
    cap = caption(rng, scene, 0.78, where == "inline")
    if where == "inline" and not cap.dated:
        where = "stamp"
    body = dateline(rng, scene) + cap.body if where == "dateline" else cap.body
    width = 200 if rng.random() < 0.15 else rng.randint(26, 64)  # 200: a caption typed on one long line
    lines = caption_lines(rng, cap, body, width)
    if rng.random() < 0.2:
        lines.insert(0, words(rng.choice(CAPTION_HEADERS[scene.lang])))
    sheet.blocks = stamps(rng, names, scene, uncued_credits) + date_lines(rng, scene, where)
    if rng.random() < 0.1:  # the caption strip on the front, under the picture
        sheet.front = lines
    else:
        sheet.caption, sheet.caption_at = lines, rng.choice(("first", "first", "last", "last", "any"))
    sheet.subject, sheet.dated = cap.subject, where != "none"
    return sheet


def wire_caption(rng: random.Random, names: Names, scene: Scene, uncued_credits: float) -> Sheet:
    assert scene.agency is not None and scene.agency.canonical in WIRE_CODES
    code, footers = WIRE_CODES[scene.agency.canonical]
    cap = caption(rng, scene, 0.92, False, wire=True)
    lines = caption_lines(rng, cap, dateline(rng, scene, code) + cap.body, rng.randint(40, 72))
    footer = words(rng.choice(footers), "canonical")
    credited = bool(scene.photographer) and rng.random() < 0.7
    if credited:  # "(AP Photo/John Smith)", on the footer's line or below it
        before, after = rng.choice(WIRE_CREDITS[scene.lang]).format(a=code, n="\x01").split("\x01")
        name = words(scene.photographer, "photographer")
        name[0].glue = before.endswith("/")
        name[-1].text += after
        name[-1].tail = after
        lines += [footer + words(before) + name] if rng.random() < 0.5 else [footer, words(before) + name]
    else:
        lines.append(footer)
    if rng.random() < 0.5:
        lines.append(words(f"({rng.choice('nlpwcb')}{rng.choice('ykaoh')}{rng.randint(10000, 99999)}"
                           f"{rng.choice(('stf', 'fls', 'jw', 'pr', 'sm'))})"))
    sheet = Sheet(caption=lines, caption_at=rng.choice(("first", "first", "first", "last")))
    sheet.blocks = stamps(rng, names, scene, uncued_credits, agency=rng.random() < 0.3, photographer=not credited)
    sheet.subject = cap.subject
    return sheet


def stamped_back(rng: random.Random, names: Names, scene: Scene, uncued_credits: float) -> Sheet:
    person = scene.event is None
    if person:
        name = _name(scene.people[0])
        subject = name.upper() if rng.random() < 0.6 else name
    else:
        subject = event_subject(rng, scene)
    note = words(subject, "title")
    if person and rng.random() < 0.55:
        sep, glue = rng.choice(((",", True), ("-", False), (":", True), ("/", False)))
        note += [Word(sep, glue=glue)] + words(
            scene.c.upper() if subject.isupper() else scene.c, "place")
    where = rng.choices(("stamp", "prefixed", "none"), (0.55, 0.3, 0.15))[0]
    sheet = Sheet(subject=subject, dated=where != "none")
    sheet.blocks = (stamps(rng, names, scene, uncued_credits, bare_ok=False) + date_lines(rng, scene, where)
                    + [[note], [words(rng.choice(LIBRARY_MARKS))]])
    return sheet


def clipping(rng: random.Random, names: Names, scene: Scene, uncued_credits: float) -> Sheet:
    where = rng.choices(("inline", "stamp", "prefixed", "none"), (0.2, 0.35, 0.15, 0.3))[0]
    if scene.precision == "year" and where == "inline":
        where = "stamp"
    cap = caption(rng, scene, 0.6, where == "inline")
    if where == "inline" and not cap.dated:
        where = "stamp"
    sheet = Sheet(subject=cap.subject, dated=where != "none")
    sheet.front = caption_lines(rng, cap, cap.body, rng.randint(24, 44))
    on_front = scene.photographer and rng.random() < 0.5
    if on_front:  # the paper's credit under the picture
        form = rng.choice(CREDIT_FORMS[scene.lang])
        before, after = form.split("{n}")
        sheet.front.insert(rng.choice((0, len(sheet.front))),
                           words(before) + words(scene.photographer, "photographer") + words(after))
    if rng.random() < 0.6:
        sheet.blocks.append(newsprint(rng, names, scene.lang))
    sheet.blocks += stamps(rng, names, scene, uncued_credits, photographer=not on_front, bare_ok=False)
    sheet.blocks += date_lines(rng, scene, where)
    return sheet


def museum_label(rng: random.Random, names: Names, scene: Scene, uncued_credits: float) -> Sheet:
    lang = scene.lang
    subject_f, date_f, photographer_f, place_f, inventory_f = LABEL_FIELD_NAMES[lang]
    if scene.event is None:
        name = _name(scene.people[0])
        subject = name.upper() if rng.random() < 0.3 else name
    else:
        subject = event_subject(rng, scene)
    fields = [words(subject_f) + words(subject, "title")]
    if rng.random() < 0.6:
        fields.append(words(place_f) + words(scene.c, "place"))
    dated = rng.random() < 0.85
    if dated:
        fields.append(words(date_f) + words(scene.date_text, "date"))
    on_label = bool(scene.photographer) and rng.random() < 0.6
    if on_label:
        fields.append(words(photographer_f) + words(scene.photographer, "photographer"))
    if rng.random() < 0.3:
        rng.shuffle(fields)
    institution = rng.choice(INSTITUTIONS[lang]).format(C=scene.c2.upper() if rng.random() < 0.3 else scene.c2)
    number = f"{rng.choice(('', 'PH ', 'F.', 'Ph. '))}{rng.randint(1, 1999)}" + (
        f".{rng.randint(1, 999)}" if rng.random() < 0.5 else "")
    label = [words(institution, "note")] + fields + [words(f"{inventory_f} {number}")]
    sheet = Sheet(caption=label, caption_at="any", subject=subject, dated=dated)
    sheet.blocks = stamps(rng, names, scene, uncued_credits, photographer=not on_label, bare_ok=False)
    return sheet


def no_caption(rng: random.Random, names: Names, scene: Scene, uncued_credits: float) -> Sheet:
    where = rng.choices(("stamp", "prefixed", "front", "none"), (0.4, 0.2, 0.15, 0.25))[0]
    sheet = Sheet(dated=where != "none")
    if rng.random() < 0.45:
        # SPEC §4's case: a freelancer's stamp is the only name on the print, so it names the print.
        sheet.blocks = [freelance_stamp(rng, names, scene.lang, scene.photographer, "title")]
        sheet.subject = scene.photographer
    else:
        sheet.blocks = stamps(rng, names, scene, uncued_credits, photographer=rng.random() < 0.6, cued_only=True)
    if where == "front":
        sheet.front = [words(scene.date_text, "date") + words(rng.choice(GARBAGE))]
    sheet.blocks += date_lines(rng, scene, where)
    return sheet


BUILDERS = {"typed_slip": typed_slip, "wire_caption": wire_caption, "stamped_back": stamped_back,
            "clipping": clipping, "museum_label": museum_label, "no_caption": no_caption}
assert set(BUILDERS) == set(LAYOUTS)
