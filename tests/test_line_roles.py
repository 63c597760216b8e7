"""What each OCR line of a press print is (formats/roles.py), and the reasons' plain words (formats/reasons.py).

The examples are written from how press prints are stamped and captioned in the five languages the
job supports (en, de, fr, it, es), one group per role; none is taken from an evaluation set.
"""
from __future__ import annotations

import pytest

from formats.reasons import RECORD_REASONS, describe_reason, reason
from formats.roles import (ADDRESS, AGENCY, CAPTION, CREDIT, DATELINE, FILING, NOTICE, OTHER, RECEIVED, contradicts,
                           credited_text, line_roles)

EXAMPLES = {
    AGENCY: ["KEYSTONE PRESS AGENCY LTD", "AP WIREPHOTO", "UPI TELEPHOTO", "dpa-Bild", "FOTO ANSA", "Foto EFE",
             "Photo: AP", "© KEYSTONE", "Agence Gamma", "Süddeutscher Verlag Bilderdienst", "Ullstein Bilderdienst",
             "Agenzia Fotografica Italia", "Agencia Cifra", "CENTRAL PRESS PHOTOS LTD", "Smith Picture Library",
             "Bildarchiv Preußischer Kulturbesitz", "Paramount Studios", "Roger-Viollet", "Publifoto Milano"],
    CREDIT: ["Photo by John Smith", "PHOTO: J. SMITH", "Foto: Hans Müller", "Aufnahme: Erich Salomon",
             "Cliché Henri Dupont", "Photographe : Marc Riboud", "Crédit photo : Anne Leroy", "Fotografo Mario Rossi",
             "Foto di Giulia Neri", "Fotografía de Ana García", "Foto: Carlos Pérez", "© Jean Dubois",
             "(c) Mary Brown", "Credit: Tom Hall", "by Robert Capa", "Courtesy of Jane Doe"],
    RECEIVED: ["RECEIVED 12 MAR 1969", "LIBRARY COPY FILED", "FILED MAY 2 1961", "Rec'd 3/4/58", "PUBLISHED 4 JUN 1970",
               "Eingang 3. Okt. 1963", "Eingegangen am 12.5.1961", "Reçu le 3 octobre 1963", "CLASSÉ LE 4 MAI 1965",
               "Ricevuto il 2 maggio 1961", "ARCHIVIATO 1970", "Recibido el 5 de junio de 1962", "ARCHIVADO"],
    DATELINE: ["LONDON, Oct. 3 (AP) -- The Queen", "PARIS, 3 octobre -- Le général", "OCT 3 1963", "10.11.1989",
               "maggio 1961", "NEW YORK, May 4 -- Mayor Wagner", "3. Oktober 1990", "5 de junio de 1962"],
    CAPTION: ["The Beatles arrive at London Airport on their return from America.",
              "Der Bundeskanzler spricht vor dem Bundestag in Bonn.",
              "Le président de la République reçoit les journalistes à l'Élysée.",
              "Il presidente della Repubblica visita la fiera di Milano.",
              "El rey inaugura la nueva estación de Atocha."],
    ADDRESS: ["Tel. 041-637-2005", "62 NETHERPARK AVENUE", "GLASGOW G44 3XW", "12 Fleet Street, London EC4",
              "Telefon 22 45 67", "8000 München 2", "12, rue de Rivoli", "Via del Corso 12, Roma", "Calle Mayor 5, Madrid",
              "Téléphone : 45.67.89"],
    FILING: ["Neg. No. 1234", "Ref. 77/12", "RETURN TO LIBRARY", "PLEASE RETURN", "4 COL", "Box 7", "FILE COPY",
             "Bitte zurückgeben", "Retour au service photo", "Archivio", "Devolver al archivo"],
    NOTICE: ["Reproduction interdite", "MUST CREDIT", "NOT FOR PUBLICATION", "Nur mit Quellenangabe",
             "Veröffentlichung nur mit Genehmigung", "Riproduzione vietata", "Prohibida la reproducción",
             "All rights reserved", "Droits réservés"],
    OTHER: ["THE BEATLES", "WILLIAM DOIG (NUJ 03:", "SCOTLAND", "SENATOR JOHN F. KENNEDY", "ME", ":::"],
}


@pytest.mark.parametrize("role, line", [(role, line) for role, lines in EXAMPLES.items() for line in lines])
def test_each_line_has_the_role_of_what_it_is(role, line):
    assert role in line_roles(line)


@pytest.mark.parametrize("line, not_role", [
    ("Photo: AP", CREDIT),                    # an agency credited, no photographer
    ("© KEYSTONE", CREDIT),
    ("RECEIVED 12 MAR 1969", DATELINE),       # a stamp's date is not the photo's
    ("THE BEATLES", CAPTION),                 # a name in capitals is not running text
    ("Photo by John Smith", CAPTION),
    ("surrounded by fans at the airport", CREDIT),  # "by" inside a caption credits nobody
])
def test_a_line_does_not_take_a_role_it_only_resembles(line, not_role):
    assert not_role not in line_roles(line)


def test_a_line_may_have_two_roles():
    assert {AGENCY, CREDIT} <= line_roles("AP Photo/John Smith")
    assert {AGENCY, ADDRESS} <= line_roles("KEYSTONE PRESS AGENCY, 12 Red Lion Court, London EC4")


def test_a_credit_line_credits_the_text_after_its_cue():
    assert credited_text("Photo by John Smith") == "John Smith"
    assert credited_text("Foto: Hans Müller") == "Hans Müller"
    assert credited_text("THE BEATLES") is None


@pytest.mark.parametrize("field, line, wrong", [
    ("photographer", "KEYSTONE PRESS AGENCY LTD", True),   # the agency, not the photographer
    ("photographer", "Photo by John Smith", False),
    ("photographer", "JOHN SMITH", False),                  # a bare name neither supports nor contradicts
    ("agency", "The Beatles arrive at London Airport on their return from America.", True),
    ("agency", "KEYSTONE PRESS AGENCY LTD", False),
    ("date", "RECEIVED 12 MAR 1969", True),
    ("date", "LONDON, Oct. 3 (AP) -- The Queen", False),
    ("title", "Photo by John Smith", True),
])
def test_a_line_of_the_wrong_role_contradicts_a_field_found_in_it(field, line, wrong):
    assert contradicts(field, line_roles(line)) is wrong


# --- reasons in words -------------------------------------------------------------------------------------------

def test_a_role_mismatch_names_the_kind_of_line():
    assert describe_reason("role_mismatch:photographer", "KEYSTONE PRESS AGENCY LTD") == (
        "the photographer was found only in an agency stamp or credit")
    assert "received, filed or library stamp" in describe_reason("role_mismatch:date", "RECEIVED 12 MAR 1969")
    assert "subject" in describe_reason("role_mismatch:photographer", "WILLIAM DOIG")
    assert describe_reason("role_mismatch:agency") == "the agency was found only in a line of the wrong kind for it"


@pytest.mark.parametrize("code, words", [
    ("missed:agency", "the agency was left empty although the OCR holds an agency stamp or credit"),
    ("missed:photographer", "the photographer was left empty although the OCR holds a photographer's credit"),
    ("not_in_ocr:date", "the date was not found in the OCR (or its digits differ from the print's)"),
    ("low_confidence:title", "the model was unsure of the title: its confidence is below the threshold"),
    ("date_unreadable", "the date cannot be read as a calendar date"),
])
def test_each_reason_reads_in_plain_words(code, words):
    assert describe_reason(code) == words


def test_every_record_reason_has_words_and_an_unknown_code_is_shown_as_it_is():
    assert all(describe_reason(code) != code for code in RECORD_REASONS)
    assert describe_reason("new_reason:title") == "new_reason:title"
    assert reason("missed", "date") == "missed:date"
    with pytest.raises(ValueError):
        reason("unsure", "date")
