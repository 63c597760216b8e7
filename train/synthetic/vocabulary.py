"""The generator's vocabulary: name and place pools split train/held-out, agencies, date formats and
the tables of words that press-photo backs are made of, in the five languages.

Names, places and unknown agencies come from large pools (Faker's per-locale name and city lists
plus a syllable name generator). Every pool value belongs to exactly one split by a stable hash
(``split_of``): about 1/5 is ``heldout`` and never appears in a ``train`` record, so a held-out
evaluation measures copying, not recall.
"""
from __future__ import annotations

import functools
import importlib
import random
import re
import zlib
from dataclasses import dataclass

LANGUAGES = ("en", "fr", "de", "es", "it")
LANGUAGE_WEIGHTS = (0.50, 0.13, 0.13, 0.12, 0.12)
SPLITS = ("train", "heldout")
HELDOUT_BUCKETS = 5  # 1 in 5 pool values is held out

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

UNKNOWN_AGENCY_PATTERNS = {
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


def random_date(rng: random.Random) -> tuple[int, int, int]:
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
# What a caption says about a person: {p} is the subject, named in full.
PERSON_CAPTIONS = {
    "en": (
        "{p}, {role}, arrives at {c} airport{when}.",
        "{p}, {role}, leaves {c} for talks in {c2}{when}.",
        "{p} shakes hands with {p2} during their meeting in {c}{when}.",
        "Crowds line the streets of {c} to welcome {p}{when}.",
        "{p} clears the bar in the high jump at the {c} athletics meeting{when}.",
        "{p} and her husband {p2} leave {c} Cathedral after their wedding{when}.",
        "Picture shows: {p}, {role}, at work in the studio in {c}.",
        "{p}, {role}, pictured at {c}{when}.",
        "Delegates at the {org} conference in {c}. Left to right: {p}, {p2} and {p3}.",
        "{p} (left) receives the trophy from {p2} at {c}{when}.",
        "{p}, {role}, with his wife at their home in {c}.",
        "{p} signs the agreement with {org} in {c}{when}. Behind him is {p2}.",
        "{p} on his way to {c} to open the new hospital.",
        "The launch of the liner at {c}{when}: {p} names the ship.",
        "{p}, {role}, talks to reporters after the meeting with {org}{when}.",
        "Queues form outside the cinema in {c} for the premiere of the new film starring {p}.",
    ),
    "fr": (
        "{p}, {role}, arrive à l'aéroport de {c}{when}.",
        "{p} serre la main de {p2} lors de leur rencontre à {c}{when}.",
        "La foule acclame {p} dans les rues de {c}{when}.",
        "Mariage de {p} et de {p2} à {c}{when}.",
        "{p}, {role}, photographié à {c}{when}.",
        "De gauche à droite : {p}, {p2} et {p3} lors de la conférence de {org} à {c}.",
        "{p} reçoit le trophée des mains de {p2} à {c}{when}.",
        "{p}, {role}, chez lui à {c}.",
    ),
    "de": (
        "{p}, {role}, bei der Ankunft auf dem Flughafen {c}{when}.",
        "{p} begrüßt {p2} bei ihrem Treffen in {c}{when}.",
        "Tausende jubeln {p} in den Straßen von {c} zu{when}.",
        "Hochzeit von {p} und {p2} in {c}{when}.",
        "{p}, {role}, in {c}{when}.",
        "Von links nach rechts: {p}, {p2} und {p3} auf der Tagung von {org} in {c}.",
        "{p} überreicht {p2} den Pokal in {c}{when}.",
        "{p}, {role}, in seinem Haus in {c}.",
    ),
    "es": (
        "{p}, {role}, a su llegada al aeropuerto de {c}{when}.",
        "{p} estrecha la mano de {p2} durante su encuentro en {c}{when}.",
        "La multitud aclama a {p} en las calles de {c}{when}.",
        "Boda de {p} y {p2} en {c}{when}.",
        "{p}, {role}, fotografiado en {c}{when}.",
        "De izquierda a derecha: {p}, {p2} y {p3} en la conferencia de {org} en {c}.",
        "{p} recibe el trofeo de manos de {p2} en {c}{when}.",
        "{p}, {role}, en su casa de {c}.",
    ),
    "it": (
        "{p}, {role}, al suo arrivo all'aeroporto di {c}{when}.",
        "{p} stringe la mano a {p2} durante l'incontro a {c}{when}.",
        "La folla acclama {p} per le vie di {c}{when}.",
        "Le nozze di {p} e {p2} a {c}{when}.",
        "{p}, {role}, fotografato a {c}{when}.",
        "Da sinistra: {p}, {p2} e {p3} alla conferenza di {org} a {c}.",
        "{p} riceve il trofeo da {p2} a {c}{when}.",
        "{p}, {role}, nella sua casa di {c}.",
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
# What a caption says about an event or a place (no person is its subject), with the caption's first
# line naming that event or place: the subject, and so the title.
EVENT_CAPTIONS = {
    "en": {
        "fire": "Firemen fight a blaze at a warehouse in {c}{when}.",
        "strike": "Striking workers gather outside the gates of {org} in {c}{when}.",
        "flood": "Flood water in the main street of {c} after heavy rain{when}.",
        "bridge": "A general view of the new bridge opened at {c}{when}.",
        "demo": "Police hold back demonstrators outside the embassy in {c}{when}.",
        "crash": "The wreckage of the express train which was derailed near {c}{when}.",
        "snow": "Children play in the snow in {c}{when}.",
        "beach": "Holidaymakers crowd the beach at {c}{when}.",
    },
    "fr": {
        "fire": "Les pompiers luttent contre un incendie dans un entrepôt de {c}{when}.",
        "strike": "Grève des ouvriers devant les usines de {org} à {c}{when}.",
        "flood": "Inondations à {c} après les fortes pluies{when}.",
        "demo": "Manifestation devant l'ambassade à {c}{when}.",
        "bridge": "Vue générale du nouveau pont inauguré à {c}{when}.",
        "beach": "Les vacanciers sur la plage de {c}{when}.",
    },
    "de": {
        "fire": "Feuerwehrleute bekämpfen einen Großbrand in einer Lagerhalle in {c}{when}.",
        "strike": "Streikende Arbeiter vor dem Werkstor von {org} in {c}{when}.",
        "flood": "Hochwasser in der Hauptstraße von {c} nach schweren Regenfällen{when}.",
        "demo": "Demonstranten vor der Botschaft in {c}{when}.",
        "bridge": "Blick auf die neue Brücke in {c}, die{when} eingeweiht wurde.",
        "beach": "Badegäste am Strand von {c}{when}.",
    },
    "es": {
        "fire": "Los bomberos luchan contra un incendio en un almacén de {c}{when}.",
        "strike": "Obreros en huelga ante la fábrica de {org} en {c}{when}.",
        "flood": "Inundaciones en {c} tras las intensas lluvias{when}.",
        "demo": "Manifestantes ante la embajada en {c}{when}.",
        "beach": "Veraneantes en la playa de {c}{when}.",
    },
    "it": {
        "fire": "I vigili del fuoco spengono un incendio in un magazzino di {c}{when}.",
        "strike": "Operai in sciopero davanti ai cancelli della {org} a {c}{when}.",
        "flood": "Alluvione a {c} dopo le forti piogge{when}.",
        "demo": "Dimostranti davanti all'ambasciata a {c}{when}.",
        "beach": "Bagnanti sulla spiaggia di {c}{when}.",
    },
}
# The event named as a caption's first line ({C}: the place in capitals, {c} as written).
EVENT_SUBJECTS = {
    "en": {"fire": ("FIRE AT {C}", "{C} WAREHOUSE FIRE", "Fire at {c}"), "strike": ("STRIKE AT {C}", "{C} STRIKE"),
           "flood": ("{C} FLOODS", "FLOODS AT {C}", "Floods in {c}"), "bridge": ("NEW BRIDGE AT {C}", "{C} BRIDGE"),
           "demo": ("DEMONSTRATION IN {C}", "{C} DEMONSTRATION"), "crash": ("RAIL CRASH NEAR {C}", "{C} RAIL CRASH"),
           "snow": ("SNOW IN {C}", "WINTER IN {C}"), "beach": ("SUMMER AT {C}", "{C} BEACH", "{C}")},
    "fr": {"fire": ("INCENDIE À {C}", "Incendie à {c}"), "strike": ("GRÈVE À {C}",), "flood": ("INONDATIONS À {C}",),
           "demo": ("MANIFESTATION À {C}",), "bridge": ("LE NOUVEAU PONT DE {C}",), "beach": ("{C}", "L'ÉTÉ À {C}")},
    "de": {"fire": ("GROSSBRAND IN {C}", "Großbrand in {c}"), "strike": ("STREIK IN {C}",),
           "flood": ("HOCHWASSER IN {C}",), "demo": ("DEMONSTRATION IN {C}",), "bridge": ("NEUE BRÜCKE IN {C}",),
           "beach": ("{C}", "SOMMER IN {C}")},
    "es": {"fire": ("INCENDIO EN {C}", "Incendio en {c}"), "strike": ("HUELGA EN {C}",),
           "flood": ("INUNDACIONES EN {C}",), "demo": ("MANIFESTACIÓN EN {C}",), "beach": ("{C}", "VERANO EN {C}")},
    "it": {"fire": ("INCENDIO A {C}", "Incendio a {c}"), "strike": ("SCIOPERO A {C}",), "flood": ("ALLUVIONE A {C}",),
           "demo": ("MANIFESTAZIONE A {C}",), "beach": ("{C}", "ESTATE A {C}")},
}
# Ranks and forms of address printed before a subject's name ("SENATOR JOHN F. KENNEDY"): part of the title.
HONORIFICS = {
    "en": ("SENATOR", "PRESIDENT", "SIR", "LADY", "DR.", "GENERAL", "PRINCESS", "MAYOR", "MISS", "MRS.", "MR."),
    "fr": ("M.", "Mme", "LE PRÉSIDENT", "LE GÉNÉRAL", "Mgr", "Me"),
    "de": ("BUNDESKANZLER", "DR.", "PROF.", "MINISTER", "FRAU", "HERR"),
    "es": ("DON", "DOÑA", "EL GENERAL", "EL PRESIDENTE", "D."),
    "it": ("ON.", "SEN.", "DOTT.", "IL PRESIDENTE", "LA SIGNORA", "AVV."),
}
AND = {"en": "AND", "fr": "ET", "de": "UND", "es": "Y", "it": "E"}
# A heading a typist puts above the caption text; not part of any field.
CAPTION_HEADERS = {
    "en": ("CAPTION:", "CAPTION", "PICTURE SHOWS:", "Caption"),
    "fr": ("LÉGENDE :", "Légende", "LÉGENDE"),
    "de": ("Bildtext:", "BILDUNTERSCHRIFT", "Bildunterschrift:"),
    "es": ("PIE DE FOTO:", "Pie de foto", "LEYENDA:"),
    "it": ("DIDASCALIA:", "Didascalia", "DIDASCALIA"),
}

# ---------------------------------------------------------------------------------------
# Library marks, conditions, references, collections

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
COLLECTIONS = ("Daily Herald Archive", "News Chronicle Library", "Fonds Presse", "Bildarchiv Nord",
               "Archivo Fotográfico", "Archivio Storico", "Press Prints 1950-1970", "Picture Library",
               "Sports Desk", "Foreign Desk")


# Words before an agency's name when the agency, not a person, is credited ("Foto: dpa", "Cliché Keystone").
AGENCY_CREDIT_WORDS = {
    "en": ("Photo:", "PHOTO:", "Picture:", "Credit:"), "fr": ("Cliché", "Photo", "Photo :", "Cliché :"),
    "de": ("Foto:", "Bild:", "FOTO:", "Foto"), "es": ("Foto:", "Archivo", "FOTO:", "Foto"),
    "it": ("Foto", "Foto:", "FOTO", "Archivio"),
}

# ---------------------------------------------------------------------------------------
# Wire photos: a dateline "NEW YORK, Oct. 3 (AP) —" opens the caption; the agency's code in brackets.

WIRE_CODES = {  # canonical name -> the code in a dateline, and the wire service's footer line
    "Associated Press": ("AP", ("(AP WIREPHOTO)", "(AP Wirephoto)", "(AP LASERPHOTO)")),
    "United Press International": ("UPI", ("(UPI TELEPHOTO)", "(UPI Telephoto)", "(UPI)")),
    "Reuters": ("Reuter", ("(REUTERPHOTO)", "(Reuter Photo)")),
    "Agence France-Presse": ("AFP", ("(Photo AFP)", "(AFP PHOTO)", "(Téléphoto AFP)")),
    "dpa": ("dpa", ("(dpa-Funkbild)", "(dpa-Bild)", "(Funkbild dpa)")),
    "ANSA": ("ANSA", ("(Telefoto ANSA)", "(FOTO ANSA)")),
    "EFE": ("EFE", ("(Foto EFE)", "(Telefoto EFE)")),
    "International News Photos": ("INS", ("(INP SOUNDPHOTO)", "(International Soundphoto)")),
    "Acme Newspictures": ("UP", ("(ACME TELEPHOTO)",)),
}
WIRE_HOME = {"en": ("Associated Press", "United Press International", "Reuters", "International News Photos",
                    "Acme Newspictures"),
             "fr": ("Agence France-Presse",), "de": ("dpa",), "es": ("EFE",), "it": ("ANSA",)}
DASHES = ("—", "-", "--", "–")
# AP style abbreviates the long months in datelines ("Oct. 3"), and keeps March to July whole.
WIRE_MONTHS_EN = ("Jan.", "Feb.", "March", "April", "May", "June", "July", "Aug.", "Sept.", "Oct.", "Nov.", "Dec.")
# The photographer credited at the end of a wire caption: {a} the agency's code, {n} the name.
WIRE_CREDITS = {
    "en": ("({a} Photo/{n})", "({a} Photo by {n})", "({a}/{n})"), "fr": ("(Photo {a}/{n})", "({a}/{n})"),
    "de": ("(Foto: {a}/{n})", "({a}/{n})"), "es": ("(Foto {a}/{n})", "({a}/{n})"),
    "it": ("(Foto {a}/{n})", "({a}/{n})"),
}


def wire_date(rng: random.Random, lang: str, y: int, m: int, d: int) -> str:
    """A dateline's date: day and month, the year only sometimes (the wire's readers knew it)."""
    year = rng.random() < 0.45
    text = {
        "en": f"{WIRE_MONTHS_EN[m - 1]} {d}" + (f", {y}" if year else ""),
        "fr": f"{d} {rng.choice((MONTHS['fr'][m - 1], MONTHS_ABBR['fr'][m - 1]))}" + (f" {y}" if year else ""),
        "de": f"{d}. {rng.choice((MONTHS['de'][m - 1], MONTHS_ABBR['de'][m - 1]))}" + (f" {y}" if year else ""),
        "es": f"{d} de {MONTHS['es'][m - 1]}" + (f" de {y}" if year else ""),
        "it": f"{d} {MONTHS['it'][m - 1]}" + (f" {y}" if year else ""),
    }[lang]
    return text


# ---------------------------------------------------------------------------------------
# Museum and library labels ({C}: a place of the split, so held-out labels name held-out places)

INSTITUTIONS = {
    "en": ("{C} City Museum", "{C} Museum and Art Gallery", "{C} Public Library", "{C} Local Studies Library",
           "Museum of {C}", "{C} CENTRAL LIBRARY", "{C} Record Office"),
    "fr": ("Musée de {C}", "Bibliothèque municipale de {C}", "Archives municipales de {C}", "MUSÉE DE {C}",
           "Médiathèque de {C}"),
    "de": ("Stadtmuseum {C}", "Stadtarchiv {C}", "Stadtbibliothek {C}", "Heimatmuseum {C}", "STADTARCHIV {C}"),
    "es": ("Museo Municipal de {C}", "Archivo Municipal de {C}", "Biblioteca Pública de {C}", "ARCHIVO DE {C}"),
    "it": ("Museo Civico di {C}", "Archivio Storico di {C}", "Biblioteca Civica di {C}", "MUSEO CIVICO DI {C}"),
}
# A label's field names: subject, date, photographer, place, inventory number.
LABEL_FIELD_NAMES = {
    "en": ("Subject:", "Date:", "Photographer:", "Place:", "Acc. No."),
    "fr": ("Sujet :", "Date :", "Photographe :", "Lieu :", "N° d'inventaire"),
    "de": ("Motiv:", "Datum:", "Fotograf:", "Ort:", "Inv.-Nr."),
    "es": ("Asunto:", "Fecha:", "Fotógrafo:", "Lugar:", "N.º de inventario"),
    "it": ("Soggetto:", "Data:", "Fotografo:", "Luogo:", "N. inv."),
}

# ---------------------------------------------------------------------------------------
# Pencil notes (sizing and crop marks, filing numbers, scribbles): OCR reads them as garbage.

PENCIL_NOTES = ("3 col", "2 col x 4 in", "crop", "65%", "8x10", "4 1/2", "B", "x", "No 43", "use", "hold",
                "cut", "4 col", "1/2 col", "ok", "Spl", "?", "top", "W", "6 in", "file", "dup")

# ---------------------------------------------------------------------------------------
# People and places of one split


@dataclass(frozen=True)
class Names:
    """Draws people, places and surnames from the pools of one split (never from the other's)."""

    split: str
    pools: Pools

    @classmethod
    def of(cls, split: str) -> "Names":
        return cls(split, pools(split))

    def culture(self, rng: random.Random, lang: str) -> str:
        return lang if rng.random() < 0.55 else rng.choice(("en", "fr", "de", "es", "it", "other", "other"))

    def surname(self, rng: random.Random, culture: str) -> str:
        if rng.random() < 0.25:  # a syllable-built surname, held to the same split rule
            for _ in range(50):
                name = "".join(rng.choice(_SYLLABLES_START) + rng.choice(_SYLLABLES_VOWEL) + rng.choice(_SYLLABLES_END)
                               for _ in range(rng.choice((1, 2, 2, 3))))
                name = (name + rng.choice(_SURNAME_SUFFIXES)).capitalize()
                if 3 <= len(name) <= 14 and split_of(name) == self.split:
                    return name
        pool = self.pools.last_names[culture] or self.pools.last_names["en"]
        return rng.choice(pool)

    def first(self, rng: random.Random, culture: str, female: bool) -> str:
        male, fem = self.pools.first_names[culture]
        pool = (fem if female else male) or male or fem
        return rng.choice(pool)

    def person(self, rng: random.Random, lang: str) -> tuple[str, str, bool]:
        """(first name(s), surname, female) of a person of ``lang``'s culture, or often of another."""
        culture = self.culture(rng, lang)
        female = rng.random() < 0.35
        first = self.first(rng, culture, female)
        if rng.random() < 0.08:
            first = f"{first} {self.first(rng, culture, female)}"
        last = self.surname(rng, culture)
        if rng.random() < 0.05:
            last = f"{last}-{self.surname(rng, culture)}"
        return first, last, female

    def place(self, rng: random.Random, lang: str) -> str:
        """A place as written in ``lang``: a famous city's exonym, an English-style town or a pool city."""
        r = rng.random()
        if r < 0.3 and self.pools.famous:
            key = rng.choice(self.pools.famous)
            return key if lang == "en" else FAMOUS_PLACES[key][("fr", "de", "es", "it").index(lang)]
        if r < 0.45:
            return rng.choice(_EN_TOWN_PATTERNS).format(self.surname(rng, "en"))
        return rng.choice(self.pools.places)
