"""The command line's surface: every command, its arguments and help. A command names its handler as
"module:function" of this package, imported only when that command runs, so `--help` loads nothing but
argparse."""
from __future__ import annotations

import argparse
import importlib


def handler(spec: str):
    """The function a command's "module:function" names."""
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(f"hankebot.service.cli.{module}"), name)


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="hankebot", description="Runs a small-procurement bid invitation by email.",
                                 epilog="Exit codes: 0 ok, 1 refused/failed, 2 usage or config error, 3 sealed.")
    ap.add_argument("--config", help="config file (default: $HANKEBOT_CONFIG or ./config.toml)")
    ap.add_argument("-v", "--verbose", action="store_true")
    sub = ap.add_subparsers(dest="cmd", required=True, metavar="COMMAND")

    def add(name, fn, help_):
        p = sub.add_parser(name, help=help_, description=help_)
        p.set_defaults(fn=fn)  # "module:function", see handler()
        return p

    p = add("check-config", "admin:cmd_check_config", "validate a config file and explain what it sets up")
    p.add_argument("path", nargs="?")
    p.add_argument("--no-files", action="store_true", help="do not check that form files exist")
    p = add("check-mail", "mailbox:cmd_check_mail", "connect to the configured IMAP and SMTP servers step by step, send a test "
            "message to the procurement mailbox and see it arrive; says the likely fix for each failure")
    p.add_argument("--no-send", action="store_true", help="do not send the test message")
    p.add_argument("--timeout", type=float, default=20.0, help="seconds per network step (default 20)")
    p.add_argument("--wait", type=float, default=60.0, help="seconds to wait for the test message (default 60)")
    p = add("demo", "admin:cmd_demo", "run the whole lifecycle of the reference procurement on embedded defaults")
    p.add_argument("--seconds", type=int, default=25, help="seconds from the invitations to the deadline (default 25)")
    p.add_argument("--keep", help="work in this directory and keep it (default: a temporary one)")
    p.add_argument("--bot", action="store_true",
                   help="also play the expert's side in Telegram against a local Bot API stand-in and print it")
    add("run", "admin:cmd_run", "the long-running service: IMAP listener, scheduler, notifications, Telegram bot")
    p = add("send-invitations", "procurement:cmd_send_invitations", "pre-flight, then one invitation per bidder")
    p.add_argument("proc")
    p.add_argument("--dry-run", action="store_true", help="write the messages as .eml files, send nothing")
    p.add_argument("--out", help="directory for --dry-run .eml files")
    p = add("send-clarification", "procurement:cmd_send_clarification", "send a clarification to every invitee alike")
    p.add_argument("proc")
    p.add_argument("--message", required=True, help="UTF-8 text file with the clarification")
    p.add_argument("--attach", action="append", help="file to attach (repeatable)")
    p.add_argument("--answers", type=int, help="id of the inbound question this answers")
    p = add("remind", "procurement:cmd_remind", "remind invitees who have neither bid nor declined")
    p.add_argument("proc")
    p.add_argument("--label", help="batch label (a reminder batch is sent once per label)")
    p = add("status", "status:cmd_status", "where each procurement stands (sealed-safe)")
    p.add_argument("proc", nargs="?")
    p.add_argument("--json", action="store_true")
    p.add_argument("--other", action="store_true", help="also list the newest mail that is no procurement's event")
    p = add("inspect", "inspection:cmd_inspect", "classify messages and extract everything, storing nothing; "
            "several files or a folder print one JSON object per line and file")
    p.add_argument("messages", nargs="+", metavar="MESSAGE",
                   help=".eml file (raw message), or a folder read recursively (.eml files and raw messages)")
    p.add_argument("--received-at", help="ISO time the server received it (default: newest Received header)")
    p.add_argument("--json", action="store_true", help="one file: the whole extraction as indented JSON")
    p.add_argument("--jsonl", action="store_true", help="JSON lines even for one file (always for several or a folder)")
    p = add("fetch", "mailbox:cmd_fetch", "fetch new mail from IMAP once and process it, with progress")
    p.add_argument("--since", metavar="YYYY-MM-DD",
                   help="deliberate backfill: also read older mail the server received on or after this day "
                        "(default: past the checkpoint; on a first start from the earliest invitation date)")
    add("process", "mailbox:cmd_process", "process stored but unprocessed messages, and retry quarantined ones")
    p = add("results", "evaluation:cmd_results", "scores and ranking per part (after the opening)")
    p.add_argument("proc")
    p.add_argument("--json", action="store_true")
    p = add("grade", "evaluation:cmd_grade", "grade a bid on a quality criterion")
    p.add_argument("bid", type=int)
    p.add_argument("criterion")
    p.add_argument("points")
    p.add_argument("--why", required=True, help="justification")
    for name in ("accept", "reject"):
        p = add(name, "evaluation:cmd_decide_bid", f"{name} a bid that has problems (late, missing forms, ...)")
        p.add_argument("bid", type=int)
        p.add_argument("--why", required=True, help="reason")
    p = add("report", "evaluation:cmd_report", "write the evaluation protocol (xlsx, pdf, chart)")
    p.add_argument("proc")
    p.add_argument("--out")
    p = add("extend", "procurement:cmd_extend", "move the deadline (reschedules everything)")
    p.add_argument("proc")
    p.add_argument("--deadline", required=True, help='"DD.MM.YYYY HH:MM" Europe/Tallinn')
    p = add("decide", "evaluation:cmd_decide", "confirm the successful bid per part (default: the top-ranked), then "
                                  "send the decision letters once every part is decided")
    p.add_argument("proc")
    p.add_argument("--part", type=int, help="decide only this part (default: every undecided part)")
    p.add_argument("--bid", type=int, help="a ranked bid other than the top-ranked one (needs --why)")
    p.add_argument("--why", help="written reason (required with --bid)")
    p.add_argument("--preview", action="store_true", help="show what would be decided, record nothing")
    p.add_argument("--no-letters", action="store_true", help="record the decision, send the letters later")
    p = add("send-decision", "procurement:cmd_send_decision", "send (or finish sending) the decision letter to every bidder")
    p.add_argument("proc")
    p.add_argument("--dry-run", action="store_true", help="write the letters as .eml files, send nothing")
    p.add_argument("--out", help="directory for --dry-run .eml files")
    p = add("cancel", "procurement:cmd_cancel", "cancel the procurement (any state but decided) and tell every invitee")
    p.add_argument("proc")
    p.add_argument("--why", required=True, help="reason, quoted in the letters")
    p.add_argument("--dry-run", action="store_true", help="write the letters as .eml files, cancel nothing")
    p.add_argument("--out", help="directory for --dry-run .eml files")
    p = add("register", "procurement:cmd_register", "export the letters register (every message sent and received) as XLSX and CSV")
    p.add_argument("proc")
    p.add_argument("--out")
    p = add("purge", "admin:cmd_purge", "remove raw messages and attachments of a decided procurement (keeps protocol and audit log)")
    p.add_argument("proc")
    p.add_argument("--older-than-days", type=int, default=None, help="default: the procurement's retention_days")
    p.add_argument("--dry-run", action="store_true")
    add("migrate", "admin:cmd_migrate", "bring the database schema up to date")
    return ap
