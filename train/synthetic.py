"""Seeded, deterministic generator of press-photo OCR records and their catalogue labels.

What it imitates: the back of a press print as an archive's OCR sees it — an agency
stamp with its address and conditions of use, a photographer's credit or rubber stamp,
a date stamp, a typed or pasted caption (often a headline and a body wrapped to a narrow
column), archive references, phone numbers, "RETURN TO LIBRARY"-style library marks and
pencil scribbles — and a front with edge print, a caption strip or a few garbled
fragments. OCR errors are applied on top: character confusions (O/0, l/1, rn/m, ...),
dropped and doubled characters, lost accents, truncated line ends, split and merged
lines and garbage lines.

Label conventions (documented in docs/training.md), chosen so a model can learn them by
copying from the OCR rather than by memorising names:

* ``title`` — the caption's headline, verbatim as OCR'd (line breaks become spaces);
  empty when the print has no headline.
* ``description`` — the caption body, verbatim as OCR'd, lines joined with spaces and
  words hyphenated across a line break re-joined; it is written in the record's
  ``language`` (the caption is in that language).
* ``agency`` — the canonical name of a well-known agency (``KNOWN_AGENCIES``: every
  stamp variant, e.g. "AP WIREPHOTO" or "WIDE WORLD PHOTOS", maps to one name), or, for
  any other agency, its name copied from the stamp; empty without an agency stamp.
* ``photographer`` — the photographer's name as printed, without "Photo by", "(c)",
  "Credit:", "REUTER /" or the address of a freelancer's stamp.
* ``date`` — the date of the photograph as printed (without "Date:", "le", "am", ...);
  dates of receipt or filing ("RECEIVED 14 APR 1962", "Eingang ...") are not the date.
  ``date_iso`` is derived by the parser, not labelled here.

Names, places and unknown agencies come from large pools (Faker's per-locale name and
city lists plus a syllable name generator). Every pool value belongs to exactly one
split by a stable hash (``split_of``): about 1/5 is ``heldout`` and never appears in a
``train`` record, so a held-out evaluation measures copying, not recall.

Determinism: record ``i`` of ``(split, seed)`` depends only on those three values (its
own ``random.Random`` seeded with a string, which Python hashes with SHA-512), so a
stream can be generated in any order or in parallel and is identical across runs and
platforms (for a given Faker version, whose lists are the pools).

CLI: ``python -m train.synthetic --n N --seed S --out DIR [--split train|heldout]``
writes ``DIR/records.parquet`` (SPEC §2 columns plus a carried-through ``collection``)
and ``DIR/labels.parquet`` (``id, description, title, agency, photographer, date,
language``).
"""
from __future__ import annotations

import argparse
import functools
import importlib
import random
import re
import zlib
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Iterator, Sequence

LANGUAGES = ("en", "fr", "de", "es", "it")
LANGUAGE_WEIGHTS = (0.50, 0.13, 0.13, 0.12, 0.12)
SPLITS = ("train", "heldout")
HELDOUT_BUCKETS = 5  # 1 in 5 pool values is held out
LABEL_FIELDS = ("description", "title", "agency", "photographer", "date")

# ---------------------------------------------------------------------------------------
# Pools


def _word_split(word: str) -> str:
    return "heldout" if zlib.crc32(word.casefold().encode("utf-8")) % HELDOUT_BUCKETS == 0 else "train"


def split_of(value: str) -> str | None:
    """The split a pool value belongs to, by a stable hash of each of its words.

    A value of several words ("Juan Carlos", "Castel Gandolfo", "Ruiz-Jiménez") belongs to a
    split only when all its words do (else to none, and it is not used), so no single word
    of a held-out name or place ever occurs in a training record.
    """
    splits = {_word_split(word) for word in re.split(r"[\s'-]+", value) if word}
    return splits.pop() if len(splits) == 1 else None


_NAME_LOCALES = {
    "en": ("en_US", "en_GB", "en_IE"),
    "fr": ("fr_FR", "fr_CH"),
    "de": ("de_DE", "de_AT"),
    "es": ("es_ES", "es_MX"),
    "it": ("it_IT",),
    "other": ("nl_NL", "sv_SE", "pt_PT", "pt_BR", "cs_CZ", "hu_HU", "da_DK", "fi_FI", "pl_PL",
              "hr_HR", "sk_SK", "ro_RO", "no_NO", "id_ID"),
}
_CITY_LOCALES = ("de_DE", "it_IT", "nl_NL", "sk_SK", "cs_CZ", "da_DK", "fi_FI", "sv_SE",
                 "pt_PT", "hr_HR", "ro_RO", "de_AT", "sl_SI")
_NAME_OK = re.compile(r"^[^\W\d_][^\W\d_' -]*(?:[' -][^\W\d_]+)*$")

# Well-known places; the key is the English name, values are (fr, de, es, it) exonyms.
FAMOUS_PLACES = {
    "London": ("Londres", "London", "Londres", "Londra"), "Paris": ("Paris", "Paris", "París", "Parigi"),
    "Rome": ("Rome", "Rom", "Roma", "Roma"), "Munich": ("Munich", "München", "Múnich", "Monaco di Baviera"),
    "Moscow": ("Moscou", "Moskau", "Moscú", "Mosca"), "Vienna": ("Vienne", "Wien", "Viena", "Vienna"),
    "Brussels": ("Bruxelles", "Brüssel", "Bruselas", "Bruxelles"), "Geneva": ("Genève", "Genf", "Ginebra", "Ginevra"),
    "Cologne": ("Cologne", "Köln", "Colonia", "Colonia"), "Venice": ("Venise", "Venedig", "Venecia", "Venezia"),
    "Milan": ("Milan", "Mailand", "Milán", "Milano"), "Lisbon": ("Lisbonne", "Lissabon", "Lisboa", "Lisbona"),
    "Warsaw": ("Varsovie", "Warschau", "Varsovia", "Varsavia"), "Athens": ("Athènes", "Athen", "Atenas", "Atene"),
    "Berlin": ("Berlin", "Berlin", "Berlín", "Berlino"), "Florence": ("Florence", "Florenz", "Florencia", "Firenze"),
    "Naples": ("Naples", "Neapel", "Nápoles", "Napoli"), "Turin": ("Turin", "Turin", "Turín", "Torino"),
    "Seville": ("Séville", "Sevilla", "Sevilla", "Siviglia"), "Prague": ("Prague", "Prag", "Praga", "Praga"),
    "Copenhagen": ("Copenhague", "Kopenhagen", "Copenhague", "Copenaghen"),
    "Edinburgh": ("Édimbourg", "Edinburgh", "Edimburgo", "Edimburgo"),
}
OTHER_PLACES = (
    "New York", "Washington", "Madrid", "Tokyo", "Bonn", "Glasgow", "Manchester", "Liverpool", "Birmingham",
    "Chicago", "Los Angeles", "Hollywood", "Cannes", "Nice", "Marseille", "Lyon", "Hamburg", "Frankfurt",
    "Barcelona", "Valencia", "Amsterdam", "Stockholm", "Oslo", "Helsinki", "Dublin", "Belfast", "Cardiff",
    "Budapest", "Cairo", "Jerusalem", "New Delhi", "Bombay", "Peking", "Hong Kong", "Sydney", "Melbourne",
    "Ottawa", "Montreal", "Toronto", "Mexico City", "Buenos Aires", "Rio de Janeiro", "Havana", "Algiers",
    "Nairobi", "Johannesburg", "Cape Town", "Saigon", "Singapore", "Bangkok", "Teheran", "Ankara", "Istanbul",
    "Belgrade", "Bucharest", "Sofia", "Zurich", "Berne", "Lausanne", "Monte Carlo", "Le Mans", "Wimbledon",
    "Ascot", "Epsom", "Southampton", "Portsmouth", "Dover", "Bristol", "Leeds", "Aberdeen", "Blackpool",
    "Brighton", "Oxford", "Cambridge", "Boston", "San Francisco", "Miami", "Detroit", "Philadelphia", "Houston",
    "Dallas", "Atlanta", "New Orleans", "Las Vegas", "Cleveland", "Pittsburgh", "St. Louis", "Denver",
    "Seattle", "Stuttgart", "Düsseldorf", "Dresden", "Leipzig", "Nuremberg", "Bordeaux", "Toulouse",
    "Strasbourg", "Lille", "Grenoble", "Genoa", "Bologna", "Palermo", "Bilbao", "Saragossa", "Malaga", "Porto",
    "Antwerp", "Rotterdam", "Liège", "Luxembourg", "Salzburg", "Innsbruck", "Reims", "Orly", "Le Bourget",
    "Heathrow", "Coventry", "Sheffield", "Newcastle", "Nottingham", "Swansea", "Plymouth", "Norwich",
    "Montpellier", "Nantes", "Rennes", "Dijon", "Avignon", "Biarritz", "Hanover", "Bremen", "Kiel", "Essen",
    "Dortmund", "Mainz", "Heidelberg", "Freiburg", "Verona", "Pisa", "Siena", "Bari", "Trieste", "Cordoba",
    "Granada", "Toledo", "Salamanca", "San Sebastian", "Pamplona", "Valladolid",
)
_EN_TOWN_PATTERNS = ("{}ton", "{}field", "{}bridge", "{}borough", "{}ford", "{}ham", "{}wick", "{}by",
                     "North {}", "South {}", "Port {}", "Upper {}", "{} Green", "{} Heath", "{} Cross")
_SYLLABLES_START = ("b", "br", "c", "ch", "d", "dr", "f", "g", "gr", "h", "j", "k", "kl", "l", "m", "n", "p",
                    "pr", "r", "s", "sch", "st", "t", "tr", "v", "w", "z", "")
_SYLLABLES_VOWEL = ("a", "e", "i", "o", "u", "ai", "ei", "ou", "ia", "au", "y", "é", "ö", "ü")
_SYLLABLES_END = ("", "", "n", "r", "l", "s", "t", "ck", "m", "nd", "rt", "ss", "tz", "x", "rg")
_SURNAME_SUFFIXES = ("", "", "", "son", "sen", "ski", "ez", "ini", "elli", "mann", "er", "ard", "ov", "ier",
                     "stein", "berg", "ey", "ley", "ton", "ing", "o", "a", "es", "is")


@dataclass(frozen=True)
class Pools:
    first_names: dict[str, tuple[tuple[str, ...], tuple[str, ...]]]  # culture -> (male, female)
    last_names: dict[str, tuple[str, ...]]
    places: tuple[str, ...]
    famous: tuple[str, ...]  # keys of FAMOUS_PLACES in this split


def _provider(kind: str, locale: str):
    return importlib.import_module(f"faker.providers.{kind}.{locale}").Provider


def _good_names(values) -> list[str]:
    return sorted({v for v in values if _NAME_OK.match(v) and len(v) > 1 and "." not in v
                   and all(ord(c) < 0x250 for c in v)})


@functools.lru_cache(maxsize=None)
def pools(split: str) -> Pools:
    """Name and place pools of one split (Faker's per-locale lists, partitioned by ``split_of``)."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, not {split!r}")
    keep = lambda values: tuple(v for v in values if split_of(v) == split)  # noqa: E731
    first, last = {}, {}
    for culture, locales in _NAME_LOCALES.items():
        male, female, surnames = set(), set(), set()
        for locale in locales:
            provider = _provider("person", locale)
            male.update(getattr(provider, "first_names_male", ()) or ())
            female.update(getattr(provider, "first_names_female", ()) or ())
            surnames.update(getattr(provider, "last_names", ()) or ())
        first[culture] = (keep(_good_names(male)), keep(_good_names(female)))
        last[culture] = keep(_good_names(surnames))
    cities = set(OTHER_PLACES)
    for locale in _CITY_LOCALES:
        provider = _provider("address", locale)
        cities.update(c for c in getattr(provider, "cities", ()) if 2 < len(c) < 24)
    places = keep(sorted(c for c in cities if all(ord(ch) < 0x250 for ch in c)))
    return Pools(first, last, places, keep(sorted(FAMOUS_PLACES)))


# ---------------------------------------------------------------------------------------
# Agencies

@dataclass(frozen=True)
class Agency:
    canonical: str
    stamps: tuple[str, ...]           # how the name appears on a stamp
    addresses: tuple[tuple[str, ...], ...] = ()
    credit: tuple[str, ...] = ()      # short forms used in "X PHOTO / NAME" credits
    lang: str = "en"


KNOWN_AGENCIES: tuple[Agency, ...] = (
    Agency("Associated Press", ("ASSOCIATED PRESS PHOTO", "AP WIREPHOTO", "AP PHOTO", "ASSOCIATED PRESS",
                                "AP LASERPHOTO", "Associated Press Photo", "(AP WIREPHOTO)"),
           (("50 ROCKEFELLER PLAZA", "NEW YORK 20, N.Y."), ("83-86 Farringdon Street", "London E.C.4"),
            ("ASSOCIATED PRESS LTD.", "Tel. FLEet 5040")), ("AP", "AP Photo")),
    Agency("Wide World Photos", ("WIDE WORLD PHOTOS", "AP/WIDE WORLD PHOTOS", "WIDE WORLD PHOTOS, INC.",
                                 "Wide World Photos", "WIDE WORLD"),
           (("229 West 43rd Street", "New York City"), ("Times Building", "New York"))),
    Agency("United Press International", ("UNITED PRESS INTERNATIONAL", "UPI TELEPHOTO", "UPI PHOTO",
                                          "UNITED PRESS INTERNATIONAL PHOTO", "U.P.I.", "UPI",
                                          "UNITED PRESS INTERNATIONAL (U.K.) LTD"),
           (("220 East 42nd Street", "New York 17, N.Y."), ("8 Bouverie Street", "London E.C.4")), ("UPI",)),
    Agency("Acme Newspictures", ("ACME NEWSPICTURES", "ACME NEWSPICTURES, INC.", "ACME PHOTO", "ACME TELEPHOTO",
                                 "Acme Newspictures Inc."),
           (("461 Eighth Avenue", "New York City"), ("Tel. LAckawanna 4-1000",)), ("ACME",)),
    Agency("Keystone", ("KEYSTONE PRESS AGENCY LTD", "KEYSTONE", "PHOTO KEYSTONE", "KEYSTONE-PARIS",
                        "Keystone Press Agency", "KEYSTONE VIEW CO."),
           (("Red Lion Court, Fleet Street", "LONDON E.C.4"), ("Tel. CENtral 5111",),
            ("73, rue de Richelieu", "PARIS 2e")), ("KEYSTONE",)),
    Agency("Central Press Photos", ("CENTRAL PRESS PHOTOS LTD", "CENTRAL PRESS PHOTOS", "CENTRAL PRESS",
                                    "Central Press Photos Ltd."),
           (("6-7 Gough Square, Fleet Street", "LONDON, E.C.4"), ("Tel. FLEet Street 3000",))),
    Agency("Fox Photos", ("FOX PHOTOS LTD", "FOX PHOTOS", "Fox Photos Ltd.", "FOX PHOTOS LIMITED"),
           (("Tallis House, Tallis Street", "London, E.C.4"), ("Tel: CENtral 8272",))),
    Agency("Reuters", ("REUTERS", "REUTER", "REUTERPHOTO", "Reuters Photo", "REUTERS LTD"),
           (("85 Fleet Street", "London EC4P 4AJ"),), ("REUTER", "REUTERS")),
    Agency("Agence France-Presse", ("AGENCE FRANCE-PRESSE", "AFP", "PHOTO A.F.P.", "AFP PHOTO", "A.F.P."),
           (("11-15 place de la Bourse", "75002 PARIS"), ("13, rue de la Bourse", "PARIS (2e)")), ("AFP",), "fr"),
    Agency("dpa", ("dpa", "DPA-BILD", "Deutsche Presse-Agentur", "dpa Bildarchiv", "DEUTSCHE PRESSE-AGENTUR GMBH"),
           (("Mittelweg 38", "2000 Hamburg 13"), ("Bildfunk", "Frankfurt am Main")), ("dpa",), "de"),
    Agency("Planet News", ("PLANET NEWS LTD", "PLANET NEWS", "Planet News Ltd."),
           (("8 Bouverie Street", "London E.C.4"),)),
    Agency("Topical Press Agency", ("TOPICAL PRESS AGENCY", "TOPICAL PRESS AGENCY LTD", "TOPICAL"),
           (("10 & 11 Red Lion Court", "Fleet Street, E.C.4"),)),
    Agency("Sport & General", ("SPORT & GENERAL PRESS AGENCY", "SPORT & GENERAL", "S. & G."),
           (("2 & 3 Gough Square", "London E.C.4"),)),
    Agency("Press Association", ("PRESS ASSOCIATION PHOTO", "P.A. PHOTO", "THE PRESS ASSOCIATION"),
           (("85 Fleet Street", "London E.C.4"),), ("PA",)),
    Agency("International News Photos", ("INTERNATIONAL NEWS PHOTOS", "I.N.P.", "INTERNATIONAL NEWS PHOTO"),
           (("235 East 45th Street", "New York"),)),
    Agency("Underwood & Underwood", ("UNDERWOOD & UNDERWOOD", "Underwood & Underwood N.Y."),
           (("242 West 55th St.", "New York"),)),
    Agency("Bettmann Archive", ("THE BETTMANN ARCHIVE", "BETTMANN ARCHIVE", "UPI/BETTMANN"),
           (("136 East 57th Street", "New York, N.Y. 10022"),)),
    Agency("Popperfoto", ("POPPERFOTO", "Paul Popper Ltd", "POPPERFOTO LTD"),
           (("24 Bride Lane, Fleet Street", "London E.C.4"),)),
    Agency("Camera Press", ("CAMERA PRESS LTD", "CAMERA PRESS", "Camera Press London"),
           (("21 Queen Elizabeth Street", "London SE1 2PD"),)),
    Agency("Black Star", ("BLACK STAR", "BLACK STAR PUBLISHING CO."), (("450 Park Avenue South", "New York"),)),
    Agency("Magnum Photos", ("MAGNUM PHOTOS", "MAGNUM", "Magnum Photos Inc."),
           (("125, rue du Faubourg St-Honoré", "PARIS 8e"), ("72 West 45th Street", "New York"))),
    Agency("Gamma", ("GAMMA", "AGENCE GAMMA", "GAMMA PRESSE IMAGES"), (("14, rue Jules Vallès", "75011 Paris"),),
           (), "fr"),
    Agency("Sygma", ("SYGMA", "AGENCE SYGMA"), (("5, rue des Vignes", "75016 Paris"),), (), "fr"),
    Agency("Sipa Press", ("SIPA PRESS", "SIPA"), (("29, rue Marbeuf", "Paris 8e"),), (), "fr"),
    Agency("Roger-Viollet", ("ROGER-VIOLLET", "H. ROGER-VIOLLET", "Collection Roger-Viollet"),
           (("6, rue de Seine", "PARIS VIe"),), (), "fr"),
    Agency("Ullstein Bild", ("ULLSTEIN BILDERDIENST", "ullstein bild", "ULLSTEIN"),
           (("Kochstraße 50", "1 Berlin 61"),), (), "de"),
    Agency("Süddeutscher Verlag", ("SÜDDEUTSCHER VERLAG", "Süddeutscher Verlag Bilderdienst", "SV-BILDERDIENST"),
           (("Sendlinger Straße 80", "8 München 2"),), (), "de"),
    Agency("ANSA", ("ANSA", "AGENZIA ANSA", "FOTO ANSA"), (("Via della Dataria 94", "00187 Roma"),), ("ANSA",), "it"),
    Agency("Publifoto", ("PUBLIFOTO", "Publifoto Milano"), (("Via Solferino 28", "Milano"),), (), "it"),
    Agency("EFE", ("AGENCIA EFE", "EFE", "FOTO EFE"), (("Espronceda 32", "28003 Madrid"),), ("EFE",), "es"),
    Agency("Europa Press", ("EUROPA PRESS", "Europa Press Reportajes"), (("Paseo de la Castellana", "Madrid"),),
           (), "es"),
)

_UNKNOWN_AGENCY_PATTERNS = {
    "en": ("{L} PRESS PHOTOS", "{C} NEWS PHOTO SERVICE", "{L} & {L2} LTD", "{C} PRESS AGENCY", "{L} STUDIOS",
           "{L} PICTURE SERVICE", "{C} EVENING NEWS", "{L} Photo Agency", "{C} Photo Service"),
    "fr": ("AGENCE {L}", "Studio {L}", "{L} PRESSE", "AGENCE PHOTOGRAPHIQUE {L}", "Photopress {C}"),
    "de": ("BILDARCHIV {L}", "PRESSEBILD {L}", "{L} Bilderdienst", "BILDAGENTUR {C}", "Atelier {L}"),
    "es": ("AGENCIA {L}", "FOTOS {L}", "Estudio {L}", "FOTOPRENSA {C}", "Agencia Gráfica {L}"),
    "it": ("AGENZIA {L}", "Studio Fotografico {L}", "{L} FOTOGIORNALISMO", "Agenzia Fotografica {C}"),
}

# ---------------------------------------------------------------------------------------
# Dates

MONTHS = {
    "en": ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December"),
    "fr": ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
           "novembre", "décembre"),
    "de": ("Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September", "Oktober",
           "November", "Dezember"),
    "es": ("enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre", "octubre",
           "noviembre", "diciembre"),
    "it": ("gennaio", "febbraio", "marzo", "aprile", "maggio", "giugno", "luglio", "agosto", "settembre",
           "ottobre", "novembre", "dicembre"),
}
MONTHS_ABBR = {
    "en": ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"),
    "fr": ("janv.", "févr.", "mars", "avr.", "mai", "juin", "juil.", "août", "sept.", "oct.", "nov.", "déc."),
    "de": ("Jan.", "Feb.", "März", "Apr.", "Mai", "Juni", "Juli", "Aug.", "Sept.", "Okt.", "Nov.", "Dez."),
    "es": ("ene.", "feb.", "mar.", "abr.", "may.", "jun.", "jul.", "ago.", "sep.", "oct.", "nov.", "dic."),
    "it": ("gen.", "feb.", "mar.", "apr.", "mag.", "giu.", "lug.", "ago.", "set.", "ott.", "nov.", "dic."),
}
ROMAN = ("I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI", "XII")


def _ordinal_en(day: int) -> str:
    suffix = "th" if 10 <= day % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


def format_date(rng: random.Random, lang: str, y: int, m: int, d: int, precision: str) -> str:
    """The date as a stamp, a typist or a caption writer of that language would print it."""
    full, abbr = MONTHS[lang][m - 1], MONTHS_ABBR[lang][m - 1]
    if precision == "year":
        return rng.choice((str(y), str(y), f"c. {y}" if lang == "en" else str(y)))
    if precision == "month":
        options = {
            "en": (f"{full} {y}", f"{abbr} {y}", f"{full.upper()} {y}"),
            "fr": (f"{full} {y}", f"{full.upper()} {y}"),
            "de": (f"{full} {y}", f"{full.upper()} {y}", f"{m:02d}/{y}"),
            "es": (f"{full} de {y}", f"{full} {y}"),
            "it": (f"{full} {y}", f"{full.upper()} {y}"),
        }[lang]
        return rng.choice(options)
    yy = y % 100
    options = {
        "en": (f"{d} {full} {y}", f"{full} {d}, {y}", f"{d} {abbr} {y}", f"{abbr} {d} {y}", f"{abbr} {d}, {y}",
               f"{_ordinal_en(d)} {full} {y}", f"{d} {full[:3]}. {y}", f"{d}.{m}.{yy:02d}", f"{y}-{m:02d}-{d:02d}",
               f"{d} {abbr} {yy:02d}", f"{full.upper()} {d}, {y}", f"{d}/{m}/{y}" if rng.random() < 0.5 else f"{m}/{d}/{y}"),
        "fr": (f"{d} {full} {y}", f"{d} {full.upper()} {y}", f"{d} {abbr} {y}", f"{d:02d}/{m:02d}/{y}",
               f"{d}.{m}.{y}", f"{d}-{ROMAN[m - 1]}-{y}", f"{'1er' if d == 1 else d} {full} {y}", f"{d:02d}.{m:02d}.{yy:02d}"),
        "de": (f"{d}. {full} {y}", f"{d}.{m}.{y}", f"{d:02d}.{m:02d}.{yy:02d}", f"{d}. {abbr} {y}",
               f"{d}. {full.upper()} {y}", f"{d:02d}.{m:02d}.{y}", f"{y}-{m:02d}-{d:02d}", f"{d}.{ROMAN[m - 1]}.{y}"),
        "es": (f"{d} de {full} de {y}", f"{d} {full} {y}", f"{d}-{m}-{y}", f"{d:02d}/{m:02d}/{y}",
               f"{d} {abbr} {y}", f"{d}-{ROMAN[m - 1]}-{y}", f"{d} de {full.upper()} de {y}"),
        "it": (f"{d} {full} {y}", f"{d}/{m}/{y}", f"{d}-{ROMAN[m - 1]}-{y}", f"{d} {abbr} {y}",
               f"{d} {full.upper()} {y}", f"{d:02d}.{m:02d}.{y}", f"{d:02d}/{m:02d}/{yy:02d}"),
    }[lang]
    return rng.choice(options)


def _random_date(rng: random.Random) -> tuple[int, int, int]:
    y = int(rng.triangular(1905, 2005, 1960))
    m = rng.randint(1, 12)
    d = rng.randint(1, 28 if m == 2 else 30 if m in (4, 6, 9, 11) else 31)
    return y, m, d


# Prefixes that introduce the photo's date (not part of the label) and the date a print
# was received or filed (a distractor: never the label).
DATE_PREFIXES = {
    "en": ("Date:", "DATE:", "Dated", "Taken", "Photographed", "Date taken:"),
    "fr": ("Date :", "Date de prise de vue :", "Prise le", "Le"),
    "de": ("Datum:", "Aufnahme vom", "Aufn.-Datum:", "Datum"),
    "es": ("Fecha:", "FECHA:", "Fecha de la foto:"),
    "it": ("Data:", "DATA:", "Data dello scatto:"),
}
DISTRACTOR_PREFIXES = {
    "en": ("RECEIVED", "FILED", "LIBRARY COPY FILED", "PUBLISHED", "Rec'd", "USED", "Returned"),
    "fr": ("REÇU LE", "Reçu le", "CLASSÉ LE", "PUBLIÉ LE"),
    "de": ("EINGANG", "Eingang:", "Eingegangen am", "VERÖFFENTLICHT"),
    "es": ("RECIBIDO", "Recibido el", "ARCHIVADO"),
    "it": ("RICEVUTO", "Ricevuto il", "ARCHIVIATO"),
}
# How a caption mentions its date ("on 12 March 1962") and datelines ("LONDON, 12 March 1962 -").
CAPTION_DATE_INTROS = {
    "en": ("on",), "fr": ("le",), "de": ("am",), "es": ("el",), "it": ("il",),
}

# ---------------------------------------------------------------------------------------
# Photographer credits: "{n}" is the name as printed.

# Share of credits printed with no credit word: a bare name on its own line, or a freelancer's
# rubber stamp. These are the hard ones (the name must be told from stamps, addresses and agency
# lines by its form alone); training may ask for more of them than the archives' default mix.
UNCUED_CREDITS = 0.28
_CUED_CREDITS = 1.0 - UNCUED_CREDITS

CREDIT_FORMS = {
    "en": ("Photo by {n}", "PHOTO BY {n}", "Photo: {n}", "Photograph by {n}", "(c) {n}", "© {n}", "Credit: {n}",
           "CREDIT: {n}", "Photographer: {n}", "Picture by {n}", "Please credit {n}", "Copyright {n}",
           "Photo {n}", "Pic: {n}", "PHOTOGRAPH: {n}", "Copyright: {n}"),
    "fr": ("Photo {n}", "Photo : {n}", "Cliché {n}", "Photographe : {n}", "© Photo {n}", "(c) {n}",
           "Crédit photo : {n}", "PHOTO {n}", "Reportage {n}"),
    "de": ("Foto: {n}", "Aufnahme: {n}", "Bild: {n}", "Fotograf: {n}", "Foto {n}", "(c) {n}", "© {n}",
           "Photo: {n}", "FOTO: {n}"),
    "es": ("Foto: {n}", "Fotógrafo: {n}", "Foto de {n}", "(c) {n}", "FOTO {n}", "Fotografía: {n}"),
    "it": ("Foto {n}", "Fotografo: {n}", "Servizio di {n}", "Foto: {n}", "(c) {n}", "FOTO {n}", "Foto di {n}"),
}

# ---------------------------------------------------------------------------------------
# Captions. Slots: {p} {p2} {p3} people, {c} {c2} places, {role} a role, {org}, {when}.

ROLES = {
    "en": ("the Prime Minister", "the Foreign Secretary", "the film actress", "the actor", "the singer",
           "the world heavyweight champion", "the Mayor of {c2}", "the conductor", "the author", "the explorer",
           "the racing driver", "the Chancellor", "the Ambassador", "the trade union leader", "the ballerina",
           "the tennis player", "the jockey", "the Bishop of {c2}", "the new Minister of Transport",
           "the Olympic champion", "the Labour MP for {c2}", "the French President", "the pop singer"),
    "fr": ("le Premier ministre", "l'actrice", "l'acteur", "le chanteur", "la chanteuse", "le maire de {c2}",
           "le champion du monde", "le président du Conseil", "l'écrivain", "le ministre des Affaires étrangères",
           "le coureur cycliste", "l'ambassadeur", "le chef d'orchestre", "la danseuse étoile"),
    "de": ("Bundeskanzler", "die Schauspielerin", "der Schauspieler", "der Sänger", "die Sängerin",
           "Oberbürgermeister von {c2}", "Weltmeister", "Außenminister", "der Schriftsteller", "der Dirigent",
           "Bundespräsident", "der Botschafter", "die Tennisspielerin", "der Rennfahrer"),
    "es": ("el presidente del Gobierno", "la actriz", "el actor", "el cantante", "la cantante",
           "el alcalde de {c2}", "el campeón del mundo", "el ministro de Asuntos Exteriores", "el escritor",
           "el torero", "el embajador", "el ciclista", "el director de orquesta"),
    "it": ("il presidente del Consiglio", "l'attrice", "l'attore", "il cantante", "la cantante",
           "il sindaco di {c2}", "il campione del mondo", "il ministro degli Esteri", "lo scrittore",
           "il corridore", "l'ambasciatore", "il direttore d'orchestra", "il tenore"),
}
ORGS = {
    "en": ("Ford", "the National Coal Board", "the United Nations", "NATO", "the Common Market",
           "the Labour Party", "the Conservative Party", "the T.U.C.", "the Red Cross", "British Railways",
           "the Royal Air Force", "the Football Association", "the Council of Europe", "Rolls-Royce"),
    "fr": ("la SNCF", "l'ONU", "l'OTAN", "Renault", "la Croix-Rouge", "le Marché commun", "l'UNESCO",
           "Air France", "le Parti communiste", "la CGT", "Citroën", "le Conseil de l'Europe"),
    "de": ("der Bundestag", "die Bundesbahn", "Volkswagen", "die UNO", "die NATO", "das Rote Kreuz",
           "die SPD", "die CDU", "die Lufthansa", "der DGB", "Siemens", "der Europarat"),
    "es": ("las Cortes", "la ONU", "la OTAN", "RENFE", "la Cruz Roja", "SEAT", "Iberia", "el Real Madrid",
           "el Mercado Común", "la UNESCO"),
    "it": ("la FIAT", "l'ONU", "la NATO", "la Croce Rossa", "l'Alitalia", "la Juventus", "il Parlamento",
           "la RAI", "il Mercato comune", "l'Olivetti"),
}
WHEN = {
    "en": ("", "", " today", " yesterday", " this morning", " on Monday", " on Tuesday", " on Wednesday",
           " on Thursday", " on Friday", " on Saturday", " on Sunday", " last night", " yesterday afternoon"),
    "fr": ("", "", " aujourd'hui", " hier", " ce matin", " lundi", " mardi", " mercredi", " jeudi", " vendredi",
           " samedi", " dimanche", " hier soir"),
    "de": ("", "", " heute", " gestern", " am Montag", " am Dienstag", " am Mittwoch", " am Donnerstag",
           " am Freitag", " am Samstag", " am Sonntag", " heute morgen"),
    "es": ("", "", " hoy", " ayer", " esta mañana", " el lunes", " el martes", " el miércoles", " el jueves",
           " el viernes", " el sábado", " el domingo"),
    "it": ("", "", " oggi", " ieri", " stamattina", " lunedì", " martedì", " mercoledì", " giovedì",
           " venerdì", " sabato", " domenica", " ieri sera"),
}
CAPTIONS = {
    "en": (
        "{p}, {role}, arrives at {c} airport{when}.",
        "{p}, {role}, leaves {c} for talks in {c2}{when}.",
        "{p} shakes hands with {p2} during their meeting in {c}{when}.",
        "Firemen fight a blaze at a warehouse in {c}{when}.",
        "Crowds line the streets of {c} to welcome {p}{when}.",
        "{p} clears the bar in the high jump at the {c} athletics meeting{when}.",
        "Striking workers gather outside the gates of {org} in {c}{when}.",
        "Flood water in the main street of {c} after heavy rain{when}.",
        "{p} and her husband {p2} leave {c} Cathedral after their wedding{when}.",
        "A general view of the new bridge opened at {c}{when}.",
        "Picture shows: {p}, {role}, at work in the studio in {c}.",
        "{p}, {role}, pictured at {c}{when}.",
        "Delegates at the {org} conference in {c}. Left to right: {p}, {p2} and {p3}.",
        "{p} (left) receives the trophy from {p2} at {c}{when}.",
        "Police hold back demonstrators outside the embassy in {c}{when}.",
        "The wreckage of the express train which was derailed near {c}{when}.",
        "{p}, {role}, with his wife at their home in {c}.",
        "Children play in the snow in {c}{when}.",
        "{p} signs the agreement with {org} in {c}{when}. Behind him is {p2}.",
        "Holidaymakers crowd the beach at {c}{when}.",
        "{p} on his way to {c} to open the new hospital.",
        "The launch of the liner at {c}{when}: {p} names the ship.",
        "{p}, {role}, talks to reporters after the meeting with {org}{when}.",
        "Queues form outside the cinema in {c} for the premiere of the new film starring {p}.",
    ),
    "fr": (
        "{p}, {role}, arrive à l'aéroport de {c}{when}.",
        "{p} serre la main de {p2} lors de leur rencontre à {c}{when}.",
        "Les pompiers luttent contre un incendie dans un entrepôt de {c}{when}.",
        "La foule acclame {p} dans les rues de {c}{when}.",
        "Grève des ouvriers devant les usines de {org} à {c}{when}.",
        "Inondations à {c} après les fortes pluies{when}.",
        "Mariage de {p} et de {p2} à {c}{when}.",
        "{p}, {role}, photographié à {c}{when}.",
        "De gauche à droite : {p}, {p2} et {p3} lors de la conférence de {org} à {c}.",
        "{p} reçoit le trophée des mains de {p2} à {c}{when}.",
        "Manifestation devant l'ambassade à {c}{when}.",
        "{p}, {role}, chez lui à {c}.",
        "Vue générale du nouveau pont inauguré à {c}{when}.",
        "Les vacanciers sur la plage de {c}{when}.",
    ),
    "de": (
        "{p}, {role}, bei der Ankunft auf dem Flughafen {c}{when}.",
        "{p} begrüßt {p2} bei ihrem Treffen in {c}{when}.",
        "Feuerwehrleute bekämpfen einen Großbrand in einer Lagerhalle in {c}{when}.",
        "Tausende jubeln {p} in den Straßen von {c} zu{when}.",
        "Streikende Arbeiter vor dem Werkstor von {org} in {c}{when}.",
        "Hochwasser in der Hauptstraße von {c} nach schweren Regenfällen{when}.",
        "Hochzeit von {p} und {p2} in {c}{when}.",
        "{p}, {role}, in {c}{when}.",
        "Von links nach rechts: {p}, {p2} und {p3} auf der Tagung von {org} in {c}.",
        "{p} überreicht {p2} den Pokal in {c}{when}.",
        "Demonstranten vor der Botschaft in {c}{when}.",
        "{p}, {role}, in seinem Haus in {c}.",
        "Blick auf die neue Brücke in {c}, die{when} eingeweiht wurde.",
        "Badegäste am Strand von {c}{when}.",
    ),
    "es": (
        "{p}, {role}, a su llegada al aeropuerto de {c}{when}.",
        "{p} estrecha la mano de {p2} durante su encuentro en {c}{when}.",
        "Los bomberos luchan contra un incendio en un almacén de {c}{when}.",
        "La multitud aclama a {p} en las calles de {c}{when}.",
        "Obreros en huelga ante la fábrica de {org} en {c}{when}.",
        "Inundaciones en {c} tras las intensas lluvias{when}.",
        "Boda de {p} y {p2} en {c}{when}.",
        "{p}, {role}, fotografiado en {c}{when}.",
        "De izquierda a derecha: {p}, {p2} y {p3} en la conferencia de {org} en {c}.",
        "{p} recibe el trofeo de manos de {p2} en {c}{when}.",
        "Manifestantes ante la embajada en {c}{when}.",
        "{p}, {role}, en su casa de {c}.",
        "Veraneantes en la playa de {c}{when}.",
    ),
    "it": (
        "{p}, {role}, al suo arrivo all'aeroporto di {c}{when}.",
        "{p} stringe la mano a {p2} durante l'incontro a {c}{when}.",
        "I vigili del fuoco spengono un incendio in un magazzino di {c}{when}.",
        "La folla acclama {p} per le vie di {c}{when}.",
        "Operai in sciopero davanti ai cancelli della {org} a {c}{when}.",
        "Alluvione a {c} dopo le forti piogge{when}.",
        "Le nozze di {p} e {p2} a {c}{when}.",
        "{p}, {role}, fotografato a {c}{when}.",
        "Da sinistra: {p}, {p2} e {p3} alla conferenza di {org} a {c}.",
        "{p} riceve il trofeo da {p2} a {c}{when}.",
        "Dimostranti davanti all'ambasciata a {c}{when}.",
        "{p}, {role}, nella sua casa di {c}.",
        "Bagnanti sulla spiaggia di {c}{when}.",
    ),
}
EXTRA_SENTENCES = {
    "en": ("The visit lasted three days.", "More than 2,000 people attended.", "Nobody was injured.",
           "The talks will continue tomorrow.", "It was his first visit since the war.",
           "The ceremony was watched by a large crowd.", "Damage is estimated at several thousand pounds."),
    "fr": ("La visite a duré trois jours.", "Plus de 2 000 personnes étaient présentes.",
           "Il n'y a pas eu de blessés.", "Les entretiens reprendront demain."),
    "de": ("Der Besuch dauerte drei Tage.", "Mehr als 2000 Menschen waren anwesend.", "Verletzt wurde niemand.",
           "Die Gespräche werden morgen fortgesetzt."),
    "es": ("La visita duró tres días.", "Asistieron más de 2.000 personas.", "No hubo heridos.",
           "Las conversaciones continuarán mañana."),
    "it": ("La visita è durata tre giorni.", "Erano presenti oltre 2.000 persone.", "Non ci sono stati feriti.",
           "I colloqui riprenderanno domani."),
}
HEADLINES = {
    "en": ("{P} IN {C}", "{S} ARRIVES", "FIRE AT {C}", "STRIKE AT {C}", "{C} FLOODS", "ROYAL VISIT TO {C}",
           "WEDDING OF {P}", "{S} WINS", "NEW BRIDGE FOR {C}", "TALKS IN {C}", "{S} LEAVES FOR {C2}",
           "{P} AT HOME", "DEMONSTRATION IN {C}", "RAIL CRASH NEAR {C}", "{S} HONOURED", "SUMMER IN {C}",
           "{s} in {c}", "{s} arrives in {c}", "Fire at {c}", "Visit to {c}"),
    "fr": ("{P} À {C}", "ARRIVÉE DE {S}", "INCENDIE À {C}", "GRÈVE À {C}", "INONDATIONS À {C}",
           "MARIAGE DE {P}", "{S} VAINQUEUR", "VISITE À {C}", "{s} à {c}", "Incendie à {c}"),
    "de": ("{P} IN {C}", "ANKUNFT VON {S}", "GROSSBRAND IN {C}", "STREIK IN {C}", "HOCHWASSER IN {C}",
           "HOCHZEIT VON {P}", "{S} SIEGT", "BESUCH IN {C}", "{s} in {c}", "Großbrand in {c}"),
    "es": ("{P} EN {C}", "LLEGADA DE {S}", "INCENDIO EN {C}", "HUELGA EN {C}", "INUNDACIONES EN {C}",
           "BODA DE {P}", "{S} GANA", "VISITA A {C}", "{s} en {c}", "Incendio en {c}"),
    "it": ("{P} A {C}", "ARRIVO DI {S}", "INCENDIO A {C}", "SCIOPERO A {C}", "ALLUVIONE A {C}",
           "NOZZE DI {P}", "{S} VINCE", "VISITA A {C}", "{s} a {c}", "Incendio a {c}"),
}
# Headline slot key by template kind: which caption templates mention what.
NO_CAPTION_DESCRIPTION = {
    "en": "Press photograph", "fr": "Photographie de presse", "de": "Pressefoto", "es": "Fotografía de prensa",
    "it": "Fotografia di stampa",
}

# ---------------------------------------------------------------------------------------
# Library marks, conditions, references, noise

LIBRARY_MARKS = (
    "RETURN TO LIBRARY", "PLEASE RETURN TO PICTURE LIBRARY", "RETURN TO FILE", "LIBRARY COPY",
    "DO NOT REMOVE FROM FILE", "FILE COPY", "HOLD FOR RELEASE", "NOT FOR PUBLICATION", "CROP HERE", "USED",
    "4 COL", "2 col x 4 in", "MUST BE RETURNED", "PICTURE LIBRARY", "DAILY HERALD LIBRARY", "NEWS CHRONICLE",
    "PLEASE RETURN", "REFER TO", "ORIGINAL", "COPY", "Bitte zurückgeben", "ARCHIV", "Retour au service photo",
    "SERVICE DOCUMENTATION", "Archivio", "NON PUBBLICARE", "ARCHIVO", "Devolver al archivo",
)
CONDITIONS = {
    "en": ("THIS PHOTOGRAPH IS SUPPLIED ON CONDITION THAT", "IT IS NOT REPRODUCED WITHOUT PERMISSION",
           "REPRODUCTION FEE PAYABLE", "MUST CREDIT", "Not to be reproduced without permission",
           "Copyright reserved", "ANY REPRODUCTION MUST BE ACKNOWLEDGED", "FOR EDITORIAL USE ONLY",
           "Please acknowledge", "Reproduction rights reserved"),
    "fr": ("Reproduction interdite", "REPRODUCTION INTERDITE SANS AUTORISATION", "Prière de mentionner",
           "Droits de reproduction réservés", "Tous droits réservés"),
    "de": ("Nachdruck nur mit Quellenangabe", "Honorarpflichtig", "Veröffentlichung nur gegen Honorar",
           "Belegexemplar erbeten", "Nur für redaktionelle Zwecke"),
    "es": ("Prohibida la reproducción", "Derechos reservados", "Se ruega citar la fuente"),
    "it": ("Vietata la riproduzione", "Riproduzione riservata", "Citare la fonte"),
}
REF_FORMS = ("Ref. No. {n}", "Neg. No. {n}", "No. {a}{n}", "{a}/{n}", "Ref: {a}{n}", "Library ref {a}{n}",
             "FILE {a}-{n}", "Archiv-Nr. {n}", "Réf. {n}", "Rif. {n}", "N.º {n}", "Negativ {n}", "Inv. {n}",
             "BOX {m}", "{n}", "# {n}", "{a}{n}-{m}")
PHONE_FORMS = ("Tel. 01-353 {4}", "Tel: CENtral {4}", "Tel. FLEet {4}", "Tél. {2} {2} {2} {2}", "Tél. : {2}.{2}.{2}",
               "Telefon {3} {4}", "Tel. ({3}) 555-{4}", "Phone: {3}-{4}", "Tel. 0{2} {3} {4}", "Tfno. {3} {2} {2}")
FILM_EDGE = ("KODAK SAFETY FILM", "KODAK", "AGFA", "ILFORD", "KODAK VELOX", "AGFA-BROVIRA", "ILFORD MULTIGRADE",
             "GEVAERT", "KODAK PAPER", "VELOX")
GARBAGE = ("ME", "RES", ":::", "1 l", "x", "/", "—", "..", "i", "'", "II", "ll", "- -", "0", "J", "AT", "«",
           "NO", "o o", ";", "ALL", "Ш", "(", "]", "%", "3", "m", "III", "ok", "4.", "l l")

# ---------------------------------------------------------------------------------------
# OCR noise

CONFUSIONS = {
    "O": "0Q", "0": "O", "o": "0ea", "l": "1I|", "1": "lI", "I": "1l|", "i": "l1", "e": "co", "c": "e",
    "a": "oe", "S": "5$", "5": "S", "B": "8", "8": "B", "E": "F", "h": "b", "u": "v", "n": "m", "m": "n",
    "t": "f", "g": "q", "G": "C", "D": "O", "Z": "2", "2": "Z", "é": "e", "è": "e", "ü": "u", "ä": "a",
    "ö": "o", "ß": "B", "à": "a", "ç": "c", ",": ".", ".": ",", "6": "b", "9": "g", "3": "8", "r": "t",
}
MULTI_CONFUSIONS = (("rn", "m"), ("m", "rn"), ("cl", "d"), ("d", "cl"), ("vv", "w"), ("w", "vv"), ("li", "h"))


@dataclass
class Word:
    """A word of an OCR line; ``tag`` names the label field it belongs to (or None)."""

    text: str
    tag: str | None = None
    glue: bool = False        # no space before this word when rendered
    hyphen_cont: bool = False  # second half of a word hyphenated across a line break
    tail: str = ""             # trailing punctuation of a date word that is not part of the date


Line = list  # list[Word]


def words(text: str, tag: str | None = None) -> list[Word]:
    return [Word(w, tag) for w in text.split()]


def render(line: Sequence[Word]) -> str:
    out = []
    for i, w in enumerate(line):
        if i and not w.glue:
            out.append(" ")
        out.append(w.text)
    return "".join(out)


@dataclass
class Record:
    id: str
    language: str
    back_ocr: list[str] | None
    front_ocr: list[str] | None
    collection: str
    labels: dict[str, str] = field(default_factory=dict)

    def record_row(self) -> dict:
        return {"id": self.id, "front_ocr": self.front_ocr, "back_ocr": self.back_ocr,
                "language": self.language, "collection": self.collection}

    def label_row(self) -> dict:
        return {"id": self.id, **{k: self.labels[k] for k in LABEL_FIELDS}, "language": self.language}


COLLECTIONS = ("Daily Herald Archive", "News Chronicle Library", "Fonds Presse", "Bildarchiv Nord",
               "Archivo Fotográfico", "Archivio Storico", "Press Prints 1950-1970", "Picture Library",
               "Sports Desk", "Foreign Desk")


class Generator:
    """Records of one ``split`` and ``seed``; ``record(i)`` is a pure function of (split, seed, i)."""

    def __init__(self, seed: int = 0, split: str = "train", id_prefix: str | None = None,
                 noise_scale: float = 1.0, uncued_credits: float = UNCUED_CREDITS):
        if not 0.0 < uncued_credits < 1.0:
            raise ValueError(f"uncued_credits must be between 0 and 1, not {uncued_credits}")
        self.seed = seed
        self.split = split
        self.pools = pools(split)
        self.id_prefix = id_prefix if id_prefix is not None else f"syn-{split}-{seed}"
        self.noise_scale = noise_scale
        self.uncued_credits = uncued_credits

    def records(self, n: int, start: int = 0) -> Iterator[Record]:
        for i in range(start, start + n):
            yield self.record(i)

    # -- people, places, agencies ----------------------------------------------------------

    def _culture(self, rng: random.Random, lang: str) -> str:
        return lang if rng.random() < 0.55 else rng.choice(("en", "fr", "de", "es", "it", "other", "other"))

    def _surname(self, rng: random.Random, culture: str) -> str:
        if rng.random() < 0.25:  # a syllable-built surname, held to the same split rule
            for _ in range(50):
                name = "".join(rng.choice(_SYLLABLES_START) + rng.choice(_SYLLABLES_VOWEL) + rng.choice(_SYLLABLES_END)
                               for _ in range(rng.choice((1, 2, 2, 3))))
                name = (name + rng.choice(_SURNAME_SUFFIXES)).capitalize()
                if 3 <= len(name) <= 14 and split_of(name) == self.split:
                    return name
        pool = self.pools.last_names[culture] or self.pools.last_names["en"]
        return rng.choice(pool)

    def _first(self, rng: random.Random, culture: str, female: bool) -> str:
        male, fem = self.pools.first_names[culture]
        pool = (fem if female else male) or male or fem
        return rng.choice(pool)

    def person(self, rng: random.Random, lang: str) -> tuple[str, str, bool]:
        culture = self._culture(rng, lang)
        female = rng.random() < 0.35
        first = self._first(rng, culture, female)
        if rng.random() < 0.08:
            first = f"{first} {self._first(rng, culture, female)}"
        last = self._surname(rng, culture)
        if rng.random() < 0.05:
            last = f"{last}-{self._surname(rng, culture)}"
        return first, last, female

    def place(self, rng: random.Random, lang: str) -> str:
        r = rng.random()
        if r < 0.3 and self.pools.famous:
            key = rng.choice(self.pools.famous)
            return key if lang == "en" else FAMOUS_PLACES[key][("fr", "de", "es", "it").index(lang)]
        if r < 0.45:
            return rng.choice(_EN_TOWN_PATTERNS).format(self._surname(rng, "en"))
        return rng.choice(self.pools.places)

    # -- record ------------------------------------------------------------------------------

    def record(self, index: int) -> Record:
        rng = random.Random(f"backstamp:{self.split}:{self.seed}:{index}")
        lang = rng.choices(LANGUAGES, LANGUAGE_WEIGHTS)[0]
        blocks: list[list[Line]] = []   # back blocks; a block's lines stay together
        front: list[Line] = []
        labels = {"description": "", "title": "", "agency": "", "photographer": "", "date": ""}

        # Date of the photograph and where it is printed.
        y, m, d = _random_date(rng)
        precision = rng.choices(("day", "month", "year"), (0.75, 0.13, 0.12))[0]
        date_text = format_date(rng, lang, y, m, d, precision)
        date_where = rng.choices(("stamp", "prefixed", "caption", "none"), (0.36, 0.2, 0.29, 0.15))[0]
        if date_where == "caption" and precision == "year":
            date_where = "stamp"

        # Agency.
        agency_kind = rng.choices(("known", "unknown", "none"), (0.6, 0.22, 0.18))[0]
        agency: Agency | None = None
        if agency_kind == "known":
            agency = rng.choice(KNOWN_AGENCIES)
            labels["agency"] = agency.canonical
            lines = [words(rng.choice(agency.stamps))]
            if agency.addresses and rng.random() < 0.6:
                lines += [words(a) for a in rng.choice(agency.addresses)]
            if rng.random() < 0.45:
                conds = CONDITIONS[agency.lang if rng.random() < 0.7 else lang]
                lines += [words(c) for c in rng.sample(conds, rng.choice((1, 1, 2)))]
            if rng.random() < 0.2:
                lines.append(words(self._phone(rng)))
            blocks.append(lines)
        elif agency_kind == "unknown":
            surname = self._surname(rng, self._culture(rng, lang))
            pattern = rng.choice(_UNKNOWN_AGENCY_PATTERNS[lang if rng.random() < 0.75 else "en"])
            name = pattern.format(L=surname, L2=self._surname(rng, "en"), C=self.place(rng, lang))
            if pattern.isupper() or (pattern.split()[0].isupper() and rng.random() < 0.5):
                name = name.upper()
            labels["agency"] = name
            lines = [words(name, "agency")]
            lines += self._address(rng, lang)
            if rng.random() < 0.5:
                lines.append(words(self._phone(rng)))
            if rng.random() < 0.3:
                lines.append(words(rng.choice(CONDITIONS[lang])))
            blocks.append(lines)

        # Photographer credit.
        if rng.random() < 0.72:
            first, last, _ = self.person(rng, lang)
            shown = self._name_as_printed(rng, first, last)
            labels["photographer"] = shown
            blocks.append(self._credit(rng, lang, shown, agency))

        # Caption (headline + body) on the back, or on a front caption strip.
        people = [self.person(rng, lang) for _ in range(3)]
        c, c2 = self.place(rng, lang), self.place(rng, lang)
        has_caption = rng.random() < 0.95
        caption_lines: list[Line] = []
        if has_caption:
            caption_lines, title, caption_date = self._caption(rng, lang, people, c, c2,
                                                               date_text if date_where == "caption" else None)
            labels["title"] = title
            if date_where == "caption" and not caption_date:
                date_where = "stamp"
        elif date_where == "caption":
            date_where = "stamp"

        # Date printed outside the caption.
        if date_where == "stamp":
            blocks.append([words(date_text, "date")])
        elif date_where == "prefixed":
            prefix = rng.choice(DATE_PREFIXES[lang])
            blocks.append([words(prefix) + words(date_text, "date")])
        if date_where != "none" and rng.random() < 0.14:
            # A receipt/filing stamp: a later date that is not the photograph's date.
            later = date.fromordinal(min(date(y, m, d).toordinal() + rng.randint(1, 400), date(2009, 12, 31).toordinal()))
            other = format_date(rng, lang if rng.random() < 0.6 else "en", later.year, later.month, later.day, "day")
            blocks.append([words(f"{rng.choice(DISTRACTOR_PREFIXES[lang])} {other}")])

        # Library marks, references, phone numbers.
        for _ in range(rng.choice((0, 0, 1, 1, 1, 2, 3))):
            blocks.append([words(rng.choice(LIBRARY_MARKS))])
        for _ in range(rng.choice((0, 1, 1, 2))):
            blocks.append([words(self._ref(rng))])
        if rng.random() < 0.1:
            blocks.append([words(rng.choice(COLLECTIONS).upper())])

        # Assemble the back: blocks in random order, the caption usually first or last.
        rng.shuffle(blocks)
        caption_on_front = has_caption and rng.random() < 0.2
        if has_caption and not caption_on_front:
            pos = rng.choice((0, 0, len(blocks), len(blocks), rng.randint(0, len(blocks))))
            blocks.insert(pos, caption_lines)
        back = [line for block in blocks for line in block]

        # Front: film edge print, garbled fragments, or the caption strip.
        if caption_on_front:
            front = caption_lines + ([words(rng.choice(FILM_EDGE))] if rng.random() < 0.3 else [])
        else:
            r = rng.random()
            if r < 0.35:
                front = []
            elif r < 0.55:
                front = [words(rng.choice(FILM_EDGE))]
            else:
                front = [words(rng.choice(GARBAGE)) for _ in range(rng.randint(1, 4))]
            if rng.random() < 0.08 and labels["title"]:
                # the headline written in the margin of the front too (not a different title)
                front.append(words(labels["title"]))
        if not back and not front:
            back = [words(rng.choice(LIBRARY_MARKS))]

        # OCR errors.
        level = rng.choices((0.0, 0.025, 0.07), (0.3, 0.5, 0.2))[0] * self.noise_scale
        back = self._ocr(rng, back, level)
        front = self._ocr(rng, front, level)
        for _ in range(rng.choice((0, 0, 0, 1, 2))):
            back.insert(rng.randint(0, len(back)), words(rng.choice(GARBAGE)))

        labels = self._labels(back + front, labels, agency, lang, has_caption)
        back_lines = [render(line) for line in back]
        front_lines = [render(line) for line in front]
        return Record(
            id=f"{self.id_prefix}-{index:07d}", language=lang,
            back_ocr=back_lines if back_lines or rng.random() < 0.5 else None,
            front_ocr=front_lines if front_lines or rng.random() < 0.5 else None,
            collection=rng.choice(COLLECTIONS), labels=labels,
        )

    # -- pieces ------------------------------------------------------------------------------

    def _name_as_printed(self, rng: random.Random, first: str, last: str) -> str:
        style = rng.choices(("plain", "upper", "initial", "initial_upper", "last_upper", "surname"),
                            (0.38, 0.27, 0.12, 0.08, 0.1, 0.05))[0]
        initials = ".".join(part[0] for part in first.split()) + "."
        return {
            "plain": f"{first} {last}", "upper": f"{first} {last}".upper(), "initial": f"{initials} {last}",
            "initial_upper": f"{initials} {last}".upper(), "last_upper": f"{first} {last.upper()}",
            "surname": last.upper() if rng.random() < 0.5 else last,
        }[style]

    def _credit(self, rng: random.Random, lang: str, shown: str, agency: Agency | None) -> list[Line]:
        cued = _CUED_CREDITS   # r < cued: a credit word; above it a bare name or a stamp
        r = rng.random()
        if self.uncued_credits != UNCUED_CREDITS:
            # Stretch r so that [0, 1 - u) maps onto the cued forms and the rest onto the uncued ones,
            # each keeping its inner proportions; the default share leaves r (and every record) as is.
            u = self.uncued_credits
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
        lines += self._address(rng, lang)
        if rng.random() < 0.6:
            lines.append(words(self._phone(rng)))
        return lines

    def _address(self, rng: random.Random, lang: str) -> list[Line]:
        if rng.random() < 0.35:
            return []
        street_word = {"en": ("Street", "Road", "Avenue", "Lane", "Square", "Place"),
                       "fr": ("rue", "avenue", "boulevard", "place"),
                       "de": ("straße", "weg", "platz", "allee"),
                       "es": ("Calle", "Avenida", "Plaza", "Paseo"),
                       "it": ("Via", "Corso", "Piazza", "Viale")}[lang]
        name = self._surname(rng, self._culture(rng, lang))
        n = rng.randint(1, 240)
        kind = rng.choice(street_word)
        street = {"en": f"{n} {name} {kind}", "fr": f"{n}, {kind} {name}", "de": f"{name}{kind} {n}",
                  "es": f"{kind} {name}, {n}", "it": f"{kind} {name} {n}"}[lang]
        city = self.place(rng, lang)
        postcode = rng.choice(("", f"{rng.randint(1000, 99999)} ", f"{rng.choice('ENSW')}{rng.randint(1, 20)} "))
        city_line = f"{postcode}{city}" if lang != "en" else f"{city.upper()} {postcode.strip()}".strip()
        lines = [words(street), words(city_line)]
        if rng.random() < 0.25:
            lines.append(words(rng.choice(("ENGLAND", "SCOTLAND", "FRANCE", "GERMANY", "ITALIA", "ESPAÑA", "U.S.A.",
                                           "SUISSE", "BELGIQUE", "ÖSTERREICH"))))
        return lines

    def _phone(self, rng: random.Random) -> str:
        form = rng.choice(PHONE_FORMS)
        return re.sub(r"\{(\d)\}", lambda mo: "".join(str(rng.randint(0, 9)) for _ in range(int(mo.group(1)))), form)

    def _ref(self, rng: random.Random) -> str:
        return rng.choice(REF_FORMS).format(
            n=rng.randint(10, 99999), m=rng.randint(1, 999),
            a=rng.choice("ABCDEFGHKLMNPRSTW") + (rng.choice("ABCDEFGHKLMNPRSTW") if rng.random() < 0.3 else ""))

    def _caption(self, rng: random.Random, lang: str, people, c: str, c2: str,
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
        lines = head_lines + self._wrap(rng, body_words, width)
        return lines, title, date_in_caption

    def _wrap(self, rng: random.Random, body: list[Word], width: int) -> list[Line]:
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

    def _ocr(self, rng: random.Random, lines: list[Line], level: float) -> list[Line]:
        if level <= 0:
            return lines
        out: list[Line] = []
        for line in lines:
            line = [self._noisy_word(rng, w, level) for w in line]
            line = [w for w in line if w.text]
            if not line:
                continue
            r = rng.random()
            if r < level * 0.6 and len(line) > 2:  # split one line into two
                cut = rng.randint(1, len(line) - 1)
                out += [line[:cut], line[cut:]]
                continue
            if r < level * 1.0 and out:  # merge into the previous line
                out[-1] = out[-1] + line
                continue
            if r < level * 1.3 and len(line[-1].text) > 3 and not line[-1].tag:  # a truncated end of line
                line[-1].text = line[-1].text[: -rng.randint(1, 2)]
            out.append(line)
        return out

    def _noisy_word(self, rng: random.Random, w: Word, level: float) -> Word:
        if rng.random() >= level * 2.5:
            return w
        text = w.text
        op = rng.random()
        if op < 0.55:
            positions = [i for i, ch in enumerate(text) if ch in CONFUSIONS]
            if positions:
                i = rng.choice(positions)
                text = text[:i] + rng.choice(CONFUSIONS[text[i]]) + text[i + 1:]
        elif op < 0.65:
            for a, b in MULTI_CONFUSIONS:
                if a in text:
                    text = text.replace(a, b, 1)
                    break
        elif op < 0.85 and len(text) > 3:
            i = rng.randrange(len(text))
            text = text[:i] + text[i + 1:]
        elif op < 0.92:
            i = rng.randrange(len(text))
            text = text[:i] + text[i] + text[i:]
        else:
            text = text.lower() if rng.random() < 0.5 else text.upper()
        return replace(w, text=text)

    # -- labels ------------------------------------------------------------------------------

    def _labels(self, lines: list[Line], labels: dict, agency: Agency | None, lang: str,
                has_caption: bool) -> dict:
        spans: dict[str, list[str]] = {"description": [], "title": [], "agency": [], "photographer": [], "date": []}
        seen_title = False
        for line in lines:
            for w in line:
                if not w.tag:
                    continue
                for tag in w.tag.split("+"):
                    if tag == "title" and seen_title and not spans["title"]:
                        continue
                    text = w.text
                    if tag == "date" and w.tail:
                        text = text[: -len(w.tail)] if text.endswith(w.tail) else text.rstrip(".,;:")
                    target = spans[tag]
                    if w.hyphen_cont and target and target[-1].endswith("-"):
                        target[-1] = target[-1][:-1] + text
                    elif w.glue and target:
                        target[-1] += text
                    else:
                        target.append(text)
        out = dict(labels)
        title_words = spans["title"]
        # A headline repeated on the front margin is the same title: keep the first copy.
        if title_words and labels["title"]:
            n = len(labels["title"].split())
            title_words = title_words[:n] if len(title_words) >= n else title_words
        out["title"] = " ".join(title_words)
        out["description"] = " ".join(spans["description"])
        out["photographer"] = " ".join(spans["photographer"]) if labels["photographer"] else ""
        out["date"] = " ".join(spans["date"]).strip(" ,;:")
        if agency is None and labels["agency"]:
            out["agency"] = " ".join(spans["agency"])
        if not has_caption:
            bits = [NO_CAPTION_DESCRIPTION[lang]]
            if out["agency"]:
                bits.append(out["agency"])
            if out["date"]:
                bits.append(out["date"])
            out["description"] = ", ".join(bits) + "."
        return out


# ---------------------------------------------------------------------------------------
# Files


def write_split(out_dir: str | Path, n: int, seed: int, split: str = "train", id_prefix: str | None = None) -> tuple[Path, Path]:
    """Write ``records.parquet`` and ``labels.parquet`` for ``n`` records; returns their paths."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    records = list(Generator(seed, split, id_prefix).records(n))
    record_schema = pa.schema([("id", pa.string()), ("front_ocr", pa.list_(pa.string())),
                               ("back_ocr", pa.list_(pa.string())), ("language", pa.string()),
                               ("collection", pa.string())])
    label_schema = pa.schema([(name, pa.string()) for name in ("id", *LABEL_FIELDS, "language")])
    rec_path, lab_path = out / "records.parquet", out / "labels.parquet"
    pq.write_table(pa.Table.from_pylist([r.record_row() for r in records], schema=record_schema), rec_path)
    pq.write_table(pa.Table.from_pylist([r.label_row() for r in records], schema=label_schema), lab_path)
    return rec_path, lab_path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m train.synthetic", description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, required=True, help="number of records")
    parser.add_argument("--seed", type=int, required=True, help="seed; the same seed gives the same files")
    parser.add_argument("--out", required=True, help="output folder (records.parquet, labels.parquet)")
    parser.add_argument("--split", choices=SPLITS, default="train",
                        help="which partition of the name/place pools to draw from (default: train)")
    parser.add_argument("--id_prefix", default=None, help="record id prefix (default syn-SPLIT-SEED)")
    args = parser.parse_args(argv)
    rec, lab = write_split(args.out, args.n, args.seed, args.split, args.id_prefix)
    print(f"wrote {args.n} records to {rec} and labels to {lab}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
