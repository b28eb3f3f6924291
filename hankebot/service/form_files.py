"""What `check-config` can see in the form files: each one opens as the type it is, and every sheet a cost
form's price_cells name is in it (else the invitation would tell bidders to fill a sheet their form lacks)."""
from __future__ import annotations

import io
from pathlib import Path

from hankebot.core.models import FormKind
from hankebot.mailer.forms.safety import check_zip
from hankebot.mailer.forms.text import SPREADSHEET_TYPES, norm, sniff
from hankebot.service.config import LoadedConfig

_ZIPPED = {"xlsx", "xlsm", "ods", "docx", "odt"}


def _sheet_names(data: bytes) -> list[str]:
    import python_calamine as pc

    return list(pc.CalamineWorkbook.from_filelike(io.BytesIO(data)).sheet_names)


def form_file_problems(cfg: LoadedConfig) -> list[tuple[str, str]]:
    """(field, message) for every form file that is missing, does not open, or lacks a price_cells sheet."""
    problems: list[tuple[str, str]] = []
    for i, p in enumerate(cfg.settings.procurements):
        fdir = cfg.resolve(p.forms_dir)
        for j, f in enumerate(p.forms):
            at = f"procurement[{i}].forms[{j}]"
            problems += _one_form(at, fdir / f.file, f)
    return problems


def _one_form(at: str, path: Path, f) -> list[tuple[str, str]]:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return [(f"{at}.file", f"form file not found: {path}")]
    except OSError as e:
        return [(f"{at}.file", f"cannot read {path}: {e.strerror or e}")]
    kind = sniff(data, path.name)
    if kind in _ZIPPED and (bad := check_zip(data)) is not None:
        return [(f"{at}.file", f"{path.name} does not open as {kind} ({bad.code})")]
    names: list[str] | None = None
    if kind in SPREADSHEET_TYPES:
        try:
            names = _sheet_names(data)
        except Exception as e:  # noqa: BLE001 - any reader failure is the file's problem, reported
            return [(f"{at}.file", f"{path.name} does not open as a spreadsheet ({kind}): {e}")]
    if f.kind != FormKind.COST:
        return []
    if names is None:
        return [(f"{at}.file", f"a cost form must be a spreadsheet (.xlsx, .ods, .xls); {path.name} is {kind}")]
    have = {norm(n) for n in names}
    return [
        (f"{at}.price_cells[{k}].sheet",
         f"sheet {c.sheet!r} is not in {path.name} (its sheets: {', '.join(repr(n) for n in names) or 'none'})")
        for k, c in enumerate(f.price_cells) if norm(c.sheet) not in have
    ]
