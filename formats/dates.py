"""Date text from the model → ``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD``, or None when in doubt (SPEC §4).

A catalogue would rather have no ISO date than a wrong one, so anything doubtful gives
None: no four-digit year (two-digit years have no safe century), more than one
four-digit number ("1964-1965"), a year outside photography's history, relative dates,
and numeric day/month orders the record's language does not settle.

Numeric orders: ``en`` press archives mix UK (day first) and US (month first) stamps,
so for ``en`` a numeric date is accepted only when one reading is impossible (13/04) or
both agree (05/05). Languages that write the year first numerically (zh, ja, ko, hu,
lt, mn) accept only year-first dates. Every other language reads day first. Year-first
dates (1964-04-03) are read as ISO order in every language. Month names are read by
dateparser in the record's language and in English.
"""
from __future__ import annotations

import datetime as dt
import re
from functools import lru_cache

from dateparser.data.languages_info import language_order
from dateparser.date import DateDataParser

FIRST_PHOTOGRAPH_YEAR = 1826
# dateparser fails at parse time, not at construction, on a language it lacks.
_DATEPARSER_LANGUAGES = frozenset(language_order)
YEAR_FIRST_LANGUAGES = frozenset({"zh", "ja", "ko", "hu", "lt", "mn"})
MAX_DATE_CHARS = 64  # longer "dates" are prose, not a date

_FOUR_DIGITS = re.compile(r"(?<!\d)\d{4}(?!\d)")
_YEAR = re.compile(r"(\d{4})\.?")
_YEAR_FIRST = re.compile(r"(\d{4})([./-])(\d{1,2})(?:\2(\d{1,2}))?")
_DAY_MONTH_YEAR = re.compile(r"(\d{1,2})([./-])(\d{1,2})\2(\d{4})")
_MONTH_YEAR = re.compile(r"(\d{1,2})[./-](\d{4})")
_FORMAT_BY_PERIOD = {"year": "%Y", "month": "%Y-%m", "day": "%Y-%m-%d", "time": "%Y-%m-%d"}


def normalise_date(text: str, language: str) -> str | None:
    """The ISO form of ``text`` when it can be read without doubt, else None. Never raises."""
    try:
        return _normalise(" ".join(text.split()), (language or "en").strip().lower())
    except Exception:  # a date is a nice-to-have; never lose a row over one
        return None


@lru_cache(maxsize=8192)
def _normalise(text: str, language: str) -> str | None:
    years = set(_FOUR_DIGITS.findall(text))
    if not text or len(text) > MAX_DATE_CHARS or len(years) != 1:
        return None
    year = int(years.pop())
    if not FIRST_PHOTOGRAPH_YEAR <= year <= dt.date.today().year + 1:
        return None

    if _YEAR.fullmatch(text):
        return f"{year:04d}"
    if match := _YEAR_FIRST.fullmatch(text):
        return _iso(year, int(match[3]), int(match[4]) if match[4] else None)
    if match := _MONTH_YEAR.fullmatch(text):
        return _iso(year, int(match[1]), None)
    if match := _DAY_MONTH_YEAR.fullmatch(text):
        return _numeric_day_month(year, int(match[1]), int(match[3]), language)
    if not any(ch.isalpha() for ch in text):
        return None  # digits and punctuation in no known layout, e.g. "1994: :::"
    return _with_month_name(text, language, year)


def _iso(year: int, month: int, day: int | None) -> str | None:
    """``YYYY-MM`` or ``YYYY-MM-DD`` if it is a real calendar date."""
    try:
        date = dt.date(year, month, day or 1)
    except ValueError:
        return None
    return date.strftime("%Y-%m-%d" if day else "%Y-%m")


def _numeric_day_month(year: int, first: int, second: int, language: str) -> str | None:
    if language in YEAR_FIRST_LANGUAGES:
        return None
    day_first = _iso(year, second, first)
    if language != "en":
        return day_first
    month_first = _iso(year, first, second)
    if day_first and month_first and day_first != month_first:
        return None  # 03/04/1964: 3 April or March 4?
    return day_first or month_first


@lru_cache(maxsize=64)
def _parser(language: str, date_order: str) -> DateDataParser:
    """One parser per language and order: building one loads locale data, so it is cached."""
    settings = {
        "PARSERS": ["custom-formats", "absolute-time"],  # no "yesterday", no timestamps
        "REQUIRE_PARTS": ["year"],
        "DATE_ORDER": date_order,
        "PREFER_DAY_OF_MONTH": "first",
    }
    # A language dateparser does not know falls back to English month names only.
    languages = [language, "en"] if language != "en" and language in _DATEPARSER_LANGUAGES else ["en"]
    return DateDataParser(languages=languages, settings=settings)


def _parse(text: str, language: str, date_order: str, year: int) -> str | None:
    data = _parser(language, date_order).get_date_data(text)
    if data.date_obj is None or data.date_obj.year != year or data.period not in _FORMAT_BY_PERIOD:
        return None
    return data.date_obj.strftime(_FORMAT_BY_PERIOD[data.period])


def _with_month_name(text: str, language: str, year: int) -> str | None:
    """Dates with words ("12 mars 1964", "Jun 12 1964"), read by dateparser.

    For ``en`` the text must read the same day first and month first, which is always
    true when the month is a name and catches numeric dates wrapped in words.
    """
    day_first = _parse(text, language, "DMY", year)
    if language != "en" or day_first is None:
        return day_first
    return day_first if _parse(text, language, "MDY", year) == day_first else None
