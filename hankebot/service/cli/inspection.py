"""`hankebot inspect`: classify messages and extract everything, storing nothing.

One file: a readable summary, or with --json one indented JSON object (as always). Several files, a folder
(read recursively) or --jsonl: one JSON object per line and file, with its "file"; a file that cannot be read
or extracted gives a line with an "error" instead, and the exit code is 1 when any did."""
from __future__ import annotations

import json
import re
import sys
from datetime import datetime
from pathlib import Path

from hankebot.service.cli.common import EXIT_FAIL, EXIT_OK, load

# the start of a raw message: a header field ("Received: ...", "From: ...") or an mbox "From " line, and
# among the first lines one of the fields every message has
_MESSAGE_START = re.compile(rb"\A(?:From |[!-9;-~]+:)")
_MESSAGE_FIELD = re.compile(rb"^(?:from|received|return-path|message-id|date|delivered-to|mime-version):",
                            re.IGNORECASE | re.MULTILINE)


def looks_like_message(path: Path) -> bool:
    """A file in a folder is inspected when it is an .eml or starts like a raw message (Maildir and MH keep
    messages in files without a suffix); attachments, documents and notes beside them are skipped."""
    if path.suffix.lower() == ".eml":
        return True
    try:
        with path.open("rb") as f:
            head = f.read(4096).lstrip(b"\r\n")
    except OSError:
        return True  # unreadable: inspected, so that its error is reported
    return bool(_MESSAGE_START.match(head) and _MESSAGE_FIELD.search(head))


def collect(paths: list[str]) -> tuple[list[Path], int]:
    """Every file to inspect (given files always; folders recursively, in name order) and how many files in the
    folders were skipped as not messages."""
    files, skipped = [], 0
    for p in map(Path, paths):
        if not p.is_dir():
            files.append(p)  # a missing file is reported on its own line
            continue
        for f in sorted(x for x in p.rglob("*") if x.is_file() or x.is_symlink()):  # a dangling link: an error line
            if looks_like_message(f):
                files.append(f)
            else:
                skipped += 1
    return files, skipped


def _received(args, cfg) -> datetime | None:
    if not args.received_at:
        return None
    received = datetime.fromisoformat(args.received_at)
    return received.replace(tzinfo=cfg.tz) if received.tzinfo is None else received


def _extract(cfg, raw: bytes, received: datetime | None) -> dict:
    from hankebot.mailer.forms.memo import read_once
    from hankebot.service.extract import extract

    with read_once():  # a second pass reuses the first one's form readings (a pure function of the bytes)
        ex = extract(cfg, raw, received)
        if received is None and ex.parsed.received_newest is not None:  # the server's stamp decides lateness
            ex = extract(cfg, raw, ex.parsed.received_newest)
    return ex.to_json()


def cmd_inspect(args) -> int:
    if args.jsonl or len(args.messages) > 1 or any(Path(p).is_dir() for p in args.messages):
        return _inspect_many(args)
    raw = Path(args.messages[0]).read_bytes()
    cfg = load(args, check_files=False)
    data = _extract(cfg, raw, _received(args, cfg))
    if args.json:
        print(json.dumps(data, ensure_ascii=False, indent=2))
    else:
        _print(data)
    return EXIT_OK


def _inspect_many(args) -> int:
    import gc

    gc.enable()  # a folder may hold thousands of messages: their garbage is collected as usual
    cfg = load(args, check_files=False)  # a broken config is no file's fault: exit 2 before any line
    received = _received(args, cfg)
    files, skipped = collect(args.messages)
    failed = 0
    for f in files:
        try:
            line = json.dumps({"file": str(f), **_extract(cfg, f.read_bytes(), received)}, ensure_ascii=False)
        except Exception as e:  # noqa: BLE001 - one broken file never stops the others
            failed += 1
            reason = f"{e.strerror}: {e.filename}" if isinstance(e, OSError) and e.strerror else f"{type(e).__name__}: {e}"
            line = json.dumps({"file": str(f), "error": reason}, ensure_ascii=False)
        print(line, flush=True)
    if skipped:
        print(f"inspect: skipped {skipped} file(s) in the folder(s) that are not messages (no .eml, no header)",
              file=sys.stderr)
    if not files:
        print("inspect: no message files found", file=sys.stderr)
        return EXIT_FAIL
    if failed:
        print(f"inspect: {failed} of {len(files)} file(s) could not be inspected", file=sys.stderr)
    return EXIT_FAIL if failed else EXIT_OK


def _print(data: dict) -> None:
    from hankebot.core.signatures import describe as describe_signature

    print(f"kind: {data['kind']}  ({'; '.join(data['reasons'])})")
    print(f"from: {data['sender_name']} <{data['sender']}>   bidder: {data['bidder_match']}")
    print(f"procurement: {data['procurement']}  parts: {data['parts']}  late: {data['late']}  received: {data['received_at']}")
    for a in data["attachments"]:
        print(f"  attachment {a['path']} ({a['content_type']}, {a['size']} B)")
    for f in data["forms_found"]:
        print(f"  form {f['title']}: {f['file']}")
    if data["missing_forms"]:
        print(f"  missing forms: {', '.join(data['missing_forms'])}")
    for part, pr in data["price"].items():
        print(f"  part {part}: price {pr['price']} ({pr['basis']}) from {pr['file']}")
    for k in ("bidder_name", "registry_code", "trainers"):
        if data["offer"].get(k):
            print(f"  offer {k}: {data['offer'][k]}")
    for k in ("materials", "methods"):
        if data["offer"].get(k):
            print(f"  offer {k}:\n    " + data["offer"][k].replace("\n", "\n    "))
    for s in data["signatures"]:
        print(f"  signature {s['indication']}{'/' + s['sub_indication'] if s.get('sub_indication') else ''}: "
              f"{describe_signature(s)}")
    for p in data["problems"]:
        print(f"  PROBLEM {p['code']}: {p['message']}")
