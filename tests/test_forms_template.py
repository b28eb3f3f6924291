"""Offer forms read through the procurement's own template (forms/302834/Lisa 2 pakkumuse vorm.docx): the
bidder's copy worded differently (inflected, reordered, numbered, in another format) reads right, and a
clean bid gets no false missing-field problem."""
from __future__ import annotations

from pathlib import Path

import pytest

from hankebot.devstack import sample_forms as sf
from hankebot.mailer.forms.offer_form import read_offer_form
from hankebot.mailer.forms.template import stem_score, stems, template_labels

TEMPLATE = Path(__file__).resolve().parents[1] / "forms" / "302834" / "Lisa 2 pakkumuse vorm.docx"
MATERIALS = "Slaidid, juhtumianalüüsid ja käsiraamat; iga osaleja saab töövihiku."
METHODS = "Loeng-arutelu, rühmatöö, rollimängud: valitud, sest osalejad harjutavad olukordi."

REWORDED = {
    "inflected": {"bidder_name": "Pakkuja ärinimi", "registry_code": "Registri- või isikukood",
                  "parts": "Hanke osa", "trainers": "Koolitajate nimed",
                  "materials": "Õppematerjalide kirjeldus", "methods": "Õppemeetodite kirjeldus"},
    "reordered": {"methods": "Õppemeetodite ja nende valiku põhjendused", "materials": "Õppevahendite ja -materjalide kirjeldus",
                  "trainers": "Koolitaja(d)", "parts": "Hanke osa(d)", "registry_code": "Registrikood",
                  "bidder_name": "Pakkuja nimi"},
    "numbered": {"bidder_name": "1. Pakkuja nimi:", "registry_code": "2. Registrikood / isikukood:",
                 "parts": "3. Hanke osa(d), millele pakkumus esitatakse:", "trainers": "4. Koolitajad:",
                 "materials": "5. Õppematerjalid ja -vahendid:", "methods": "6) Kasutatavate õppemeetodite kirjeldus:"},
}


@pytest.fixture(scope="module")
def labels():
    got = template_labels(str(TEMPLATE))
    assert [t.field for t in got] == ["bidder_name", "registry_code", "parts", "trainers", "materials", "methods"]
    return got


def test_template_labels_are_read_from_the_blank_form(labels):
    assert labels[4].text == "Õppevahendid ja -materjalid" and labels[5].text == "Õppemeetodid ja valiku põhjendused"


def test_stems_tolerate_inflection_and_compounds():
    assert stem_score(stems("Õppevahendid ja -materjalid"), stems("Õppematerjalide kirjeldus")) >= 1
    assert stem_score(stems("Õppemeetodid ja valiku põhjendused"), stems("Õppemeetodite kirjeldus")) >= 1
    assert stem_score(stems("Pakkuja nimi"), stems("Õppemeetodite kirjeldus")) == 0


@pytest.mark.parametrize("variant", sorted(REWORDED))
@pytest.mark.parametrize("fmt", ["docx", "odt"])
def test_reworded_offer_forms_read_right(labels, variant, fmt):
    data = sf.make_offer_form("Arengu Koolituskeskus OÜ", "12345678", [2], ["Mari Maasikas", "Jaan Tamm"],
                              MATERIALS, METHODS, fmt=fmt, labels=REWORDED[variant])
    r = read_offer_form(data, f"Lisa 2.{fmt}", labels)
    assert r.problems == []  # 0 false missing-field problems on a clean bid
    assert (r.bidder_name, r.registry_code, r.parts) == ("Arengu Koolituskeskus OÜ", "12345678", [2])
    assert r.trainers == ["Mari Maasikas", "Jaan Tamm"]
    assert (r.materials, r.methods) == (MATERIALS, METHODS)


def test_without_the_template_the_fixed_spellings_miss_these(labels):
    """The measure is not vacuous: the fixed list alone gives the false problems the template removes."""
    data = sf.make_offer_form("Arengu Koolituskeskus OÜ", "12345678", [2], ["Mari Maasikas"], MATERIALS, METHODS,
                              labels=REWORDED["inflected"])
    codes = {p.code for p in read_offer_form(data, "Lisa 2.docx").problems}
    assert {"missing_materials", "missing_methods"} <= codes


def test_an_empty_answer_is_still_missing(labels):
    data = sf.make_offer_form("Arengu Koolituskeskus OÜ", "12345678", [2], ["Mari Maasikas"], MATERIALS, "",
                              labels=REWORDED["inflected"])
    assert [p.code for p in read_offer_form(data, "Lisa 2.docx", labels).problems] == ["missing_methods"]
