"""Pre-flight checks before an invitation batch: nothing is sent unless every error is fixed.

Pure: the caller gathers the facts (file sizes, read errors, template rendering errors) and this module
judges them. Codes are English (stable), messages Estonian (shown to the procurement expert).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, time
from typing import Sequence

import holidays

from hankebot.core.et_format import datetime_et
from hankebot.core.problems import Problem
from hankebot.core.workdays import holiday_name, is_working_day, within_office_hours

MIN_INVITEES = 3
_LOCAL = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
_LABEL = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
_WEEKDAYS_ET = ["esmaspäev", "teisipäev", "kolmapäev", "neljapäev", "reede", "laupäev", "pühapäev"]


@dataclass(frozen=True)
class FormFileFact:
    """One form to attach, as the caller found it on disk. `size` None: missing or unreadable (`error` says why)."""

    key: str
    title: str
    filename: str
    required: bool = True
    size: int | None = None
    error: str | None = None


@dataclass(frozen=True)
class InviteeFact:
    key: str
    name: str
    email: str


@dataclass
class PreflightReport:
    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def format_et(self) -> str:
        lines = []
        if self.errors:
            lines.append(f"Vead ({len(self.errors)}), kutseid ei saadeta:")
            lines += [f"  ✗ {p.message}" for p in self.errors]
        if self.warnings:
            lines.append(f"Hoiatused ({len(self.warnings)}):")
            lines += [f"  ! {p.message}" for p in self.warnings]
        return "\n".join(lines) or "Eelkontroll: kõik korras."


def is_valid_address(addr: str) -> bool:
    """A plain addr-spec a mail server will accept: local@domain.tld, ASCII, sane lengths."""
    if not isinstance(addr, str) or len(addr) > 254 or addr.count("@") != 1 or addr != addr.strip():
        return False
    local, domain = addr.split("@")
    if not local or len(local) > 64 or not _LOCAL.match(local):
        return False
    labels = domain.split(".")
    if len(labels) < 2 or not all(_LABEL.match(x) for x in labels):
        return False
    return labels[-1].isalpha() and len(labels[-1]) >= 2


def holiday_name_et(d) -> str | None:
    """The Estonian name of a public holiday ("iseseisvuspäev"), else the library's default name."""
    try:
        return holidays.country_holidays("EE", years=[d.year], language="et").get(d) or holiday_name(d)
    except Exception:  # an older holidays release without Estonian names
        return holiday_name(d)


def _mb(n: float) -> str:
    return f"{n / 1024 / 1024:.1f}".replace(".", ",") + " MB"


def preflight(
    *,
    forms: Sequence[FormFileFact],
    invitees: Sequence[InviteeFact],
    deadline: datetime,
    now: datetime,
    max_file_bytes: int,
    max_total_bytes: int,
    render_errors: Sequence[str] = (),
    min_invitees: int = MIN_INVITEES,
    office_start: time = time(9),
    office_end: time = time(17),
) -> PreflightReport:
    """Judge an invitation batch. `deadline` is local (Europe/Tallinn) and aware; `now` is aware."""
    rep = PreflightReport()
    err, warn = rep.errors.append, rep.warnings.append

    if not forms:
        err(Problem("no_forms", "Hankes pole ühtegi vormi: kutsele pole midagi lisada."))
    total = 0
    for f in forms:
        if f.size is None:
            why = f" ({f.error})" if f.error else ""
            if f.required:
                err(Problem("form_missing", f"Vormi „{f.title}“ faili „{f.filename}“ ei leitud või ei saa lugeda{why}."))
            else:
                warn(Problem("optional_form_missing",
                             f"Mittekohustusliku vormi „{f.title}“ faili „{f.filename}“ ei leitud{why}: seda ei lisata."))
            continue
        if f.size == 0:
            err(Problem("form_empty", f"Vormi „{f.title}“ fail „{f.filename}“ on tühi (0 baiti)."))
        if f.size > max_file_bytes:
            err(Problem("attachment_too_large",
                        f"Vormi „{f.title}“ fail „{f.filename}“ on {_mb(f.size)}, lubatud kuni {_mb(max_file_bytes)}."))
        total += f.size
    if total > max_total_bytes:
        err(Problem("attachments_too_large",
                    f"Manuste kogumaht on {_mb(total)}, lubatud kuni {_mb(max_total_bytes)}."))

    if deadline <= now:
        err(Problem("deadline_past", f"Pakkumuste tähtaeg {datetime_et(deadline)} ei ole tulevikus."))
    else:
        d = deadline.date()
        if not is_working_day(d):
            name = holiday_name_et(d)
            what = f"riigipüha ({name})" if name else _WEEKDAYS_ET[d.weekday()]
            warn(Problem("deadline_not_working_day", f"Tähtaeg {datetime_et(deadline)} ei ole tööpäev: {what}."))
        if not within_office_hours(deadline, office_start, office_end):
            warn(Problem("deadline_outside_office_hours",
                         f"Tähtaeg {datetime_et(deadline)} on väljaspool tööaega "
                         f"({office_start.hour:02d}.{office_start.minute:02d}–{office_end.hour:02d}.{office_end.minute:02d})."))

    seen: dict[str, str] = {}
    for inv in invitees:
        addr = (inv.email or "").strip()
        if not is_valid_address(addr):
            err(Problem("invalid_address", f"Pakkuja „{inv.name}“ e-posti aadress „{inv.email}“ ei ole korrektne."))
            continue
        low = addr.lower()
        if low in seen:
            err(Problem("repeated_address",
                        f"Aadress {addr} on korduvalt: pakkujad „{seen[low]}“ ja „{inv.name}“."))
        else:
            seen[low] = inv.name
    if not invitees:
        err(Problem("no_invitees", "Kutsutavaid pakkujaid pole."))
    elif len(invitees) < min_invitees:
        warn(Problem("few_invitees",
                     f"Kutsutavaid on {len(invitees)}; väikehankes oodatakse vähemalt kolme pakkujat."))

    for msg in dict.fromkeys(render_errors):  # unique, in order
        err(Problem("template_error", f"Kirja malli ei saa koostada: {msg}"))
    return rep
