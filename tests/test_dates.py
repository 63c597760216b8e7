"""Date normalisation (SPEC §4): ISO when it can be read without doubt, else None."""
import datetime as dt

import pytest

from formats.dates import normalise_date


@pytest.mark.parametrize("text, language, expected", [
    # month names in the record's language, and English everywhere
    ("12 mars 1964", "fr", "1964-03-12"),
    ("3. Mai 1971", "de", "1971-05-03"),
    ("5 de junio de 1980", "es", "1980-06-05"),
    ("21 aprile 1968", "it", "1968-04-21"),
    ("June 1964", "en", "1964-06"),
    ("Juni 1964", "de", "1964-06"),
    ("Jun 12 1964", "en", "1964-06-12"),
    ("12 Jun 1964", "en", "1964-06-12"),
    ("MARCH 12, 1964", "en", "1964-03-12"),
    ("12 June 1964", "fr", "1964-06-12"),
    ("12 June 1964", "xx", "1964-06-12"),  # a language dateparser lacks: English names
    # bare years and numeric layouts
    ("1964", "en", "1964"),
    (" 1964. ", "en", "1964"),
    ("1964-04-03", "en", "1964-04-03"),
    ("1964-04", "de", "1964-04"),
    ("06/1964", "en", "1964-06"),
    ("03/04/1964", "fr", "1964-04-03"),  # day first outside en
    ("03.04.1964", "de", "1964-04-03"),
    ("13/04/1964", "en", "1964-04-13"),  # only one reading is a date
    ("04/13/1964", "en", "1964-04-13"),
    ("05/05/1964", "en", "1964-05-05"),  # both readings agree
    # doubtful → None
    ("03/04/1964", "en", None),  # 3 April or March 4
    ("on 03/04/1964", "en", None),
    ("04/13/1964", "fr", None),  # day first: month 13
    ("03/04/1964", "ja", None),  # year-first language
    ("31/02/1964", "fr", None),
    ("12 MAR 64", "en", None),  # two-digit year
    ("June 12", "en", None),  # no year
    ("yesterday", "en", None),
    ("3 days ago", "en", None),
    ("1964-1965", "en", None),  # two years
    ("1994: :::", "en", None),
    ("Spring 1964", "en", None),
    ("1800", "en", None),  # before photography
    (str(dt.date.today().year + 2), "en", None),
    ("garbage", "en", None),
    ("", "en", None),
    ("1964 " + "x" * 100, "en", None),
])
def test_normalise_date(text, language, expected):
    assert normalise_date(text, language) == expected


@pytest.mark.parametrize("text, language", [(None, "en"), (1964, "en"), ("1964", None), ("\ud800 1964", "en")])
def test_never_raises(text, language):
    assert normalise_date(text, language) in (None, "1964")
