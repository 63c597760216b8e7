"""Layouts: the pieces a press-photo back is made of — an agency stamp, a photographer's credit (a
credit word, a bare name or a freelancer's rubber stamp with address and phone), a date stamp, a typed
or pasted caption (a headline and a body wrapped to a narrow column), references — each a list of
lines whose words carry the label field they belong to.
"""
from __future__ import annotations

import random
import re
from dataclasses import replace

from train.synthetic.labels import Line, Word, words
from train.synthetic.vocabulary import (
    CAPTION_DATE_INTROS, CAPTIONS, CREDIT_FORMS, EXTRA_SENTENCES, HEADLINES, ORGS, PHONE_FORMS, REF_FORMS, ROLES, WHEN,
    Agency, Names,
)

# Share of credits printed with no credit word: a bare name on its own line, or a freelancer's
# rubber stamp. These are the hard ones (the name must be told from stamps, addresses and agency
# lines by its form alone); training may ask for more of them than the archives' default mix.
UNCUED_CREDITS = 0.28
_CUED_CREDITS = 1.0 - UNCUED_CREDITS


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
           uncued_credits: float = UNCUED_CREDITS) -> list[Line]:
    cued = _CUED_CREDITS   # r < cued: a credit word; above it a bare name or a stamp
    r = rng.random()
    if uncued_credits != UNCUED_CREDITS:
        # Stretch r so that [0, 1 - u) maps onto the cued forms and the rest onto the uncued ones,
        # each keeping its inner proportions; the default share leaves r (and every record) as is.
        u = uncued_credits
        r = r * cued / (1.0 - u) if r < 1.0 - u else cued + (r - (1.0 - u)) * UNCUED_CREDITS / u
    if " " not in shown:  # a lone surname is only recognisable with a credit word before it
        r *= cued
    if agency is not None and agency.credit and r < 0.3:
        short = rng.choice(agency.credit)
        sep = rng.choice((" / ", "/", " PHOTO / ", " Photo by ", " photo: "))
        head = words(short + sep.rstrip() if sep.endswith(" ") else short + sep)
        if sep.endswith("/") and not sep.startswith(" "):
            name = words(shown, "photographer")
            name[0].glue = True
            return [head + name]
        return [head + words(shown, "photographer")]
    if r < cued:
        form = rng.choice(CREDIT_FORMS[lang if rng.random() < 0.7 else "en"])
        before, after = form.split("{n}")
        return [words(before) + words(shown, "photographer") + words(after)]
    if r < 0.85:  # a bare name on its own line
        return [words(shown, "photographer")]
    # a freelancer's rubber stamp: name, maybe a union number, an address and a phone number
    name_line = words(shown, "photographer")
    if rng.random() < 0.3:
        name_line += words(f"(NUJ {rng.randint(1, 99):02d})")
    lines = [name_line]
    if rng.random() < 0.5:
        lines.append(words(rng.choice(("Press Photographer", "PRESS PHOTOGRAPHER", "Photographe de presse",
                                       "Bildjournalist", "Fotógrafo de prensa", "Fotoreporter",
                                       "Freelance Photographer"))))
    lines += address(rng, names, lang)
    if rng.random() < 0.6:
        lines.append(words(phone(rng)))
    return lines


def address(rng: random.Random, names: Names, lang: str) -> list[Line]:
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
    city_line = f"{postcode}{city}" if lang != "en" else f"{city.upper()} {postcode.strip()}".strip()
    lines = [words(street), words(city_line)]
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


def caption(rng: random.Random, lang: str, people, c: str, c2: str,
            date_text: str | None) -> tuple[list[Line], str, bool]:
    """Headline and wrapped body; returns (lines, title as printed, date placed in caption)."""
    names = [f"{f} {l}" for f, l, _ in people]
    role = rng.choice(ROLES[lang]).format(c2=c2)
    template = rng.choice(CAPTIONS[lang])
    when = rng.choice(WHEN[lang])
    date_in_body = False
    dateline = None
    if date_text is not None:
        if rng.random() < 0.55 and "{when}" in template:
            when, date_in_body = f" {rng.choice(CAPTION_DATE_INTROS[lang])} \x00", True
        else:
            dateline = rng.choice((c.upper(), c))
    body = template.format(p=names[0], p2=names[1], p3=names[2], c=c, c2=c2, role=role,
                           org=rng.choice(ORGS[lang]), when=when)
    body = body[0].upper() + body[1:]
    if rng.random() < 0.25:
        body += " " + rng.choice(EXTRA_SENTENCES[lang])
    body_words: list[Word] = []
    if dateline is not None:
        body_words += words(dateline + ",", "description")
        body_words += words(date_text, "date")
        for w in body_words[-len(date_text.split()):]:
            w.tag = "date+description"
        body_words += words(rng.choice(("-", "—", ":", "--")), "description")
    for token in body.split():
        if token.startswith("\x00"):
            tail = token[1:]
            date_words = words(date_text, "date+description")
            if tail:  # the sentence's punctuation belongs to the description, not the date
                date_words[-1].text += tail
                date_words[-1].tail = tail
            body_words += date_words
        else:
            body_words.append(Word(token, "description"))
    date_in_caption = date_in_body or dateline is not None

    title = ""
    head_lines: list[Line] = []
    if rng.random() < 0.78:
        (f1, l1, _), = people[:1]
        template = rng.choice(HEADLINES[lang])
        title = template.format(P=f"{f1} {l1}".upper(), S=l1.upper(), C=c.upper(), C2=c2.upper(),
                                p=f"{f1} {l1}", s=l1, c=c)
        head_lines = [words(title, "title")]
        if len(title) > 24 and rng.random() < 0.15:  # a headline set on two lines
            ws = head_lines[0]
            cut = rng.randint(1, len(ws) - 1)
            head_lines = [ws[:cut], ws[cut:]]
    width = rng.randint(26, 64)
    if rng.random() < 0.15:
        width = 200  # a caption typed on one long line
    lines = head_lines + wrap(rng, body_words, width)
    return lines, title, date_in_caption


def wrap(rng: random.Random, body: list[Word], width: int) -> list[Line]:
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

# -- OCR errors --------------------------------------------------------------------------
