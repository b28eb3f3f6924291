"""A spreadsheet attachment opened by python-calamine once per message.

Recognising a cost form (its sheet names), following the template's labels (every sheet's grid) and
reading the price cells each opened `CalamineWorkbook.from_filelike(io.BytesIO(data))`. Inside
`read_once()` `workbook_of(data)` opens it the first time and gives the same workbook to the later
callers; each of them asks it as before (sheet names, `get_sheet_by_name(...).to_python(...)`, which reads
the sheet from the file afresh on every call). A file calamine refuses is not remembered: each caller gets
the error afresh. Outside `read_once()` and for the reference readers each call opens its own.
"""
from __future__ import annotations

import io

from hankebot.mailer.forms.memo import active, memoised
from hankebot.mailer.reference import in_reference


def _open(data: bytes):
    import python_calamine as pc

    return pc.CalamineWorkbook.from_filelike(io.BytesIO(data))


def workbook_of(data: bytes):
    """`python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(data))`, opened once per block."""
    if not active() or in_reference():
        return _open(data)
    return memoised("calamine_workbook", data, "", lambda: _open(data))
