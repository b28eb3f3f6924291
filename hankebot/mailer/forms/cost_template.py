"""The cost form's price cells checked against the procurement's own template.

The config names where the price sits (sheet "juriidilise isiku maksumus", D2). In the blank template
that cell has a label: the nearest text to its left on the same row ("kogukulu" beside B15) or above it
in the same column (the header "kogukulu km-ga" over D2). A bidder who inserts a row or a column moves
the cell; then the label moved with it. `relocate` looks at the bidder's copy: the label still by the
configured cell -> unchanged; the label found elsewhere in the sheet -> the price cell follows it (with a
note for the expert); the label nowhere -> a problem, and the configured cell is read as before.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, replace
from functools import lru_cache

from hankebot.core.models import CostFormSpec, PriceCell
from hankebot.core.problems import Problem
from hankebot.mailer.forms.workbook import workbook_of


@dataclass(frozen=True)
class CellLabel:
    """A price cell's labels in the template: the row's label to its left (`dc` columns away) and the
    column's header above it (`dr` rows away); either may be missing."""
    sheet: str
    row_label: str | None
    dc: int
    col_label: str | None
    dr: int


def _ref(cell: str) -> tuple[int, int]:
    m = re.fullmatch(r"([A-Z]+)(\d+)", cell.upper())
    col = 0
    for ch in m.group(1):
        col = col * 26 + ord(ch) - 64
    return int(m.group(2)) - 1, col - 1


def _name(r: int, c: int) -> str:
    letters, c = "", c + 1
    while c:
        c, rem = divmod(c - 1, 26)
        letters = chr(65 + rem) + letters
    return f"{letters}{r + 1}"


def _norm(v: object) -> str:
    return " ".join(str(v).casefold().split()) if isinstance(v, str) else ""


def _grids(data: bytes) -> dict[str, list[list[object]]]:
    wb = workbook_of(data)
    return {name: wb.get_sheet_by_name(name).to_python(skip_empty_area=False) for name in wb.sheet_names}


def _at(grid: list[list[object]], r: int, c: int) -> object:
    return grid[r][c] if 0 <= r < len(grid) and 0 <= c < len(grid[r]) else None


def _is_label(v: object) -> bool:
    text = _norm(v)
    return bool(text) and bool(re.search(r"[^\W\d_]", text))


def _labels_of(sheet: str, grid: list[list[object]], r: int, c: int) -> CellLabel | None:
    left = next(((_norm(_at(grid, r, c - k)), k) for k in range(1, c + 1) if _is_label(_at(grid, r, c - k))), None)
    above = next(((_norm(_at(grid, r - k, c)), k) for k in range(1, r + 1) if _is_label(_at(grid, r - k, c))), None)
    if left is None and above is None:
        return None
    return CellLabel(sheet, left[0] if left else None, left[1] if left else 0, above[0] if above else None,
                     above[1] if above else 0)


@lru_cache(maxsize=32)
def _template(path: str, mtime: float, cells: tuple[PriceCell, ...]) -> tuple[CellLabel | None, ...]:
    with open(path, "rb") as f:
        grids = _grids(f.read())
    out = []
    for pc in cells:
        grid = grids.get(pc.sheet)
        out.append(_labels_of(pc.sheet, grid, *_ref(pc.cell)) if grid is not None else None)
    return tuple(out)


def template_cell_labels(path: str, spec: CostFormSpec) -> tuple[CellLabel | None, ...]:
    """The label of each configured price cell in the blank template; () when the template is unreadable."""
    try:
        return _template(path, os.path.getmtime(path), spec.cells)
    except Exception:  # noqa: BLE001 - no usable template: the configured cells stay in force
        return ()


def relocate(data: bytes, spec: CostFormSpec, labels: tuple[CellLabel | None, ...]) -> tuple[CostFormSpec, list[Problem]]:
    """`spec` with each price cell moved to follow its template label in the bidder's copy, and notes."""
    if not labels:
        return spec, []
    try:
        grids = _grids(data)
    except Exception:  # noqa: BLE001 - not a spreadsheet calamine reads (a PDF, a broken file): the reader decides
        return spec, []
    cells, problems = [], []
    for pc, lab in zip(spec.cells, labels):
        grid = grids.get(pc.sheet)
        if lab is None or grid is None:
            cells.append(pc)
            continue
        r, c = _ref(pc.cell)

        def spots(label: str | None) -> list[tuple[int, int]]:
            return [(i, j) for i, row in enumerate(grid) for j, v in enumerate(row) if label and _norm(v) == label]

        rows_, cols_ = spots(lab.row_label), spots(lab.col_label)
        row = rows_[0][0] if len(rows_) == 1 else (cols_[0][0] + lab.dr if len(cols_) == 1 else None)
        col = cols_[0][1] if len(cols_) == 1 else (rows_[0][1] + lab.dc if len(rows_) == 1 else None)
        what = " / ".join(x for x in (lab.row_label, lab.col_label) if x)
        if row is None or col is None:
            cells.append(pc)
            problems.append(Problem("price_cell_label_missing", f"Maksumuse vormi lehel „{pc.sheet}“ ei leitud "
                                    f"malli silti „{what}“ (vorm on muudetud?). Hind loeti lahtrist {pc.cell}; "
                                    f"palun kontrollige."))
        elif (row, col) == (r, c):
            cells.append(pc)
        else:
            moved = _name(row, col)
            cells.append(replace(pc, cell=moved))
            problems.append(Problem("price_cell_moved", f"Maksumuse vormi lehel „{pc.sheet}“ on hinna lahter nihkunud "
                                    f"(„{what}“): hind loeti lahtrist {moved}, mitte {pc.cell}. Palun kontrollige."))
    return replace(spec, cells=tuple(cells)), problems
