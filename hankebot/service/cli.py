"""The `hankebot` command line. Exit codes scripts can trust:
0 done; 1 refused or failed (pre-flight errors, a send failure, a lifecycle rule); 2 usage or config error;
3 sealed (asked for prices or scores before the opening)."""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import re
import signal
import sys
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from pathlib import Path

EXIT_OK, EXIT_FAIL, EXIT_USAGE, EXIT_SEALED = 0, 1, 2, 3


class RedactSecrets(logging.Filter):
    """Masks secrets in every log line: Telegram bot tokens (PTB and httpx log the API URL, which carries the
    token), the values of HANKEBOT_* environment variables and the configured secrets once a config is loaded."""

    TOKEN = re.compile(r"\d{5,}:[A-Za-z0-9_-]{20,}")

    def __init__(self) -> None:
        super().__init__()
        self.values = {v for k, v in os.environ.items()
                       if k.startswith("HANKEBOT_") and k != "HANKEBOT_CONFIG" and len(v) >= 4}

    def add_config(self, cfg) -> None:
        s = cfg.settings
        names = [s.mail.smtp.password_secret, s.mail.imap.password_secret if s.mail.imap else None,
                 s.telegram.token_secret]
        for oauth in (s.mail.smtp.oauth, s.mail.imap.oauth if s.mail.imap else None):
            if oauth is not None:  # the client secret and the configured refresh token
                names += [oauth.client_secret_secret, oauth.refresh_token_secret]
        for name in names:
            try:
                v = cfg.secret(name)
            except Exception:  # an unreadable secrets file is reported elsewhere
                v = None
            if v and len(v) >= 4:
                self.values.add(v)

    def redact(self, text: str) -> str:
        text = self.TOKEN.sub("<bot token>", text)
        for v in sorted(self.values, key=len, reverse=True):
            text = text.replace(v, "***")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        red = self.redact(msg)
        if red != msg:
            record.msg, record.args = red, None
        if record.exc_info and not record.exc_text:
            record.exc_text = self.redact(logging.Formatter().formatException(record.exc_info))
        return True


REDACT = RedactSecrets()


def _config_path(args) -> Path:
    return Path(args.config or os.environ.get("HANKEBOT_CONFIG") or "config.toml")


def _ctx(args):
    from hankebot.service.config import load_config
    from hankebot.service.context import open_context

    cfg = load_config(_config_path(args))
    REDACT.add_config(cfg)
    return open_context(cfg)


def _proc(ctx, key: str) -> str:
    return ctx.proc_settings(key).key


def cmd_check_config(args) -> int:
    from hankebot.service.config import ConfigError, load_config, trust_dir_problems
    from hankebot.service.form_files import form_file_problems

    path = Path(args.path) if args.path else _config_path(args)
    cfg = load_config(path, check_files=False)
    if not args.no_files:  # every form file opens, and has the sheets its price_cells name
        problems = form_file_problems(cfg) + trust_dir_problems(cfg)
        if problems:
            raise ConfigError(cfg.path, problems)
    s = cfg.settings
    print(f"{path}: OK")
    for p in s.procurements:
        dl = p.deadline_at(cfg.tz)
        invited = [x.number for x in p.parts if x.invited]
        print(f"  procurement {p.key}: {p.title}")
        print(f"    deadline {dl.strftime('%d.%m.%Y %H:%M %Z')}, parts invited {invited}, {len(p.bidders)} bidders, "
              f"forms: {', '.join(f.title for f in p.forms)}")
        if dl < datetime.now(timezone.utc):
            print("    note: the deadline is in the past (invitations would be refused by the pre-flight check)")
    from hankebot.mailer.signature_trust import load_trust_store

    store = load_trust_store(cfg.resolve(s.signatures.trust_dir) if s.signatures.trust_dir else None)
    print(f"  signatures: {len(store.anchors)} trust anchors from {store.source}, "
          f"signature {'required' if s.signatures.required else 'not required'}")
    for problem in store.problems:
        print(f"    unreadable certificate file: {problem}")
    needed = {s.telegram.token_secret}
    for sec in (s.mail.smtp, s.mail.imap):
        if sec is None or (sec is s.mail.smtp and not sec.username):
            continue
        if sec.auth == "oauth2" and sec.oauth is not None:  # the token source's secrets, not a password
            needed |= {sec.oauth.client_secret_secret,
                       sec.oauth.refresh_token_secret if sec.oauth.provider == "refresh_token" else None}
            print(f"  {'IMAP' if sec is s.mail.imap else 'SMTP'} login: OAuth2 ({sec.oauth.provider}) as {sec.username}")
        else:
            needed.add(sec.password_secret)
    from hankebot.service.staff_chats import staff_chat_warnings

    for w in staff_chat_warnings(cfg):
        print("  " + w)
    missing = [n for n in needed if n and not cfg.secret(n)]
    if missing:
        print(f"  secrets not set (env HANKEBOT_<NAME> or {s.service.secrets_file}): {', '.join(sorted(missing))}")
    return EXIT_OK


def cmd_check_mail(args) -> int:
    from hankebot.service.check_mail import check_mail
    from hankebot.service.config import load_config

    cfg = load_config(_config_path(args), check_files=False)
    REDACT.add_config(cfg)
    report = check_mail(cfg, send=not args.no_send, timeout=args.timeout, arrival_wait=args.wait)
    for line in report.lines():
        print(REDACT.redact(line))
    print("mail: OK" if not report.failed else "mail: FAILED (see the likely fixes above)")
    return EXIT_FAIL if report.failed else EXIT_OK


def cmd_demo(args) -> int:
    from hankebot.service.demo import run_demo

    return run_demo(seconds_to_deadline=args.seconds, keep_dir=Path(args.keep) if args.keep else None,
                    bot=bool(getattr(args, "bot", False)), frontend=args.frontend)


def cmd_run(args) -> int:
    from hankebot.service.last_good import load_config_or_last_good
    from hankebot.service.runner import run_forever

    # main() configured WARNING already (basicConfig again would be a no-op): the service logs INFO
    logging.getLogger().setLevel(logging.DEBUG if args.verbose else logging.INFO)
    for h in logging.getLogger().handlers:
        h.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    if not args.verbose:
        logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per long poll otherwise
    loaded = load_config_or_last_good(_config_path(args))  # a broken file: its last good copy, if any
    REDACT.add_config(loaded[0])
    return run_forever(_config_path(args), loaded, frontend=args.frontend)


def cmd_send_invitations(args) -> int:
    from hankebot.service.outbound import send_invitations

    ctx = _ctx(args)
    rep = asyncio.run(send_invitations(ctx, _proc(ctx, args.proc), dry_run=args.dry_run,
                                       out_dir=Path(args.out) if args.out else None))
    print(rep.format())
    return EXIT_FAIL if (rep.errors or rep.failed) else EXIT_OK


def cmd_send_clarification(args) -> int:
    from hankebot.service.outbound import send_clarification

    ctx = _ctx(args)
    text = Path(args.message).read_text("utf-8")
    rep = asyncio.run(send_clarification(ctx, _proc(ctx, args.proc), text, [Path(a) for a in args.attach or []],
                                         answers_inbound_id=args.answers))
    print(rep.format())
    return EXIT_FAIL if (rep.errors or rep.failed) else EXIT_OK


def cmd_remind(args) -> int:
    from hankebot.service.outbound import send_reminders

    ctx = _ctx(args)
    rep = asyncio.run(send_reminders(ctx, _proc(ctx, args.proc), args.label or f"manual-{datetime.now():%Y%m%d%H%M}"))
    print(rep.format())
    return EXIT_FAIL if (rep.errors or rep.failed) else EXIT_OK


def cmd_status(args) -> int:
    from hankebot.core.et_format import datetime_et, duration_et
    from hankebot.service.status import procurement_status

    ctx = _ctx(args)
    keys = [_proc(ctx, args.proc)] if args.proc else [p.key for p in ctx.settings.procurements]
    out = []
    for k in keys:
        st = procurement_status(ctx, k)
        if args.json:
            out.append({"key": st.key, "state": st.state, "deadline": st.deadline.isoformat(), "sealed": st.sealed,
                        "invitations_sent": st.invitations_sent, "bids": st.bids, "late_bids": st.late_bids,
                        "declines": st.declines, "questions": st.questions, "bounces": st.bounces,
                        "bidders": [{"key": b.key, "name": b.name, "answer": b.answer, "parts": b.bid_parts,
                                     "missing_forms": b.missing_forms, "late": b.late} for b in st.bidders]})
            continue
        print(f"{st.reference} – {st.title}")
        left = "passed" if st.time_left.total_seconds() <= 0 else f"{duration_et(st.time_left)} left"
        print(f"  state {st.state}; deadline {datetime_et(st.deadline)} ({left}); "
              f"{'SEALED: prices hidden until the opening' if st.sealed else 'opened'}")
        print(f"  invitations sent {st.invitations_sent}/{len(st.bidders)}; bids {st.bids} (late {st.late_bids}); "
              f"declined {st.declines}; questions {st.questions}; bounces {st.bounces}")
        for b in st.bidders:
            extra = f" parts {b.bid_parts}" if b.bid_parts else ""
            if b.missing_forms:
                extra += f"; missing: {', '.join(b.missing_forms)}"
            print(f"    {b.name:<36} {b.answer:<9}{extra}")
    with ctx.uow() as uow:
        n_other, other = uow.repo.inbound_other(limit=30 if getattr(args, "other", False) else 0)
    if args.json:
        if getattr(args, "other", False):
            out = {"procurements": out, "other": [{"id": m.id, "received_at": m.received_at.isoformat(),
                                                  "sender": m.sender, "subject": m.subject} for m in other]}
        print(json.dumps(out if not args.proc or isinstance(out, dict) else out[0], ensure_ascii=False, indent=2))
        return EXIT_OK
    print(f"other mail (no procurement's event, never pushed): {n_other}" + ("" if getattr(args, "other", False)
                                                                             else " (--other lists the newest)"))
    for m in other:
        print(f"  #{m.id} {datetime_et(ctx.local(m.received_at))} {m.sender or '?'}: {(m.subject or '')[:100]}")
    return EXIT_OK


def cmd_inspect(args) -> int:
    from hankebot.core.signatures import describe as describe_signature
    from hankebot.service.config import load_config
    from hankebot.service.extract import extract

    raw = Path(args.message).read_bytes()
    cfg = load_config(_config_path(args), check_files=False)
    received = datetime.fromisoformat(args.received_at) if args.received_at else None
    if received is not None and received.tzinfo is None:
        received = received.replace(tzinfo=cfg.tz)
    ex = extract(cfg, raw, received)
    if received is None and ex.parsed.received_newest is not None:
        ex = extract(cfg, raw, ex.parsed.received_newest)
    data = ex.to_json()
    if args.json:
        print(json.dumps(data, ensure_ascii=False, indent=2))
        return EXIT_OK
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
    return EXIT_OK


def cmd_fetch(args) -> int:
    """One pass over the mailbox with a progress bar: past the checkpoint (on a first start from the
    earliest invitation date), or with --since a deliberate backfill of everything received since that day
    (messages stored before are skipped)."""
    from datetime import date

    from rich.progress import Progress

    from hankebot.mailer.imap_listener import connect, fetch_raw, new_uids, uidvalidity_of
    from hankebot.service.ingest import process_pending, store_raw
    from hankebot.service.runner import first_read_since, imap_endpoint

    since = None
    if getattr(args, "since", None):
        try:
            since = date.fromisoformat(args.since)
        except ValueError:
            print(f"--since: {args.since!r} is not a date like 2026-01-05", file=sys.stderr)
            return EXIT_USAGE
    ctx = _ctx(args)
    ep = imap_endpoint(ctx.cfg)
    if ep is None:
        print("no [mail.imap] in the config", file=sys.stderr)
        return EXIT_USAGE
    box = connect(ep)
    try:
        uv = uidvalidity_of(box, ep.folder)
        with ctx.uow() as uow:
            cp = uow.repo.checkpoint(ep.folder)
        last = cp.last_uid if cp and cp.uidvalidity == uv else 0
        if since is not None:
            uids = new_uids(box, 0, since)
        else:
            uids = new_uids(box, last, first_read_since(ctx) if last == 0 else None)
        stored = 0
        with Progress(disable=not sys.stderr.isatty()) as bar:
            t = bar.add_task("fetching", total=len(uids))
            for i in range(0, len(uids), 25):
                for m in fetch_raw(box, ep.folder, uv, uids[i:i + 25]):
                    stored += store_raw(ctx, m.folder, m.uidvalidity, m.uid, m.raw, m.internaldate) is not None
                    bar.advance(t)
            t2 = bar.add_task("processing", total=None)
            n = process_pending(ctx)
            bar.update(t2, total=n, completed=n)
    finally:
        box.logout()
    print(f"fetched {len(uids)} message(s), {stored} new, processed {n}")
    return EXIT_OK


def cmd_process(args) -> int:
    from hankebot.service.ingest import process_pending, retry_quarantined

    ctx = _ctx(args)
    retried = retry_quarantined(ctx)  # the cause may be gone now; a message failing again stays quarantined
    n = process_pending(ctx)
    print(f"processed {n} stored message(s), {retried} of them quarantined before")
    return EXIT_OK


def cmd_results(args) -> int:
    from hankebot.service.evaluation import format_results, results

    ctx = _ctx(args)
    res = results(ctx, _proc(ctx, args.proc))
    if args.json:
        print(json.dumps([{"part": r.part_no, "ranked": [{"rank": s.rank, "bidder": s.bid.bidder_key, "price": str(s.bid.price),
                                                          "total": str(s.total)} for s in r.ranked],
                           "pending": [s.bid.bidder_key for s in r.pending],
                           "excluded": [{"bidder": b.bidder_key, "reason": b.exclusion_reason} for b in r.excluded]}
                          for r in res], ensure_ascii=False, indent=2))
    else:
        print(format_results(ctx, res))
    return EXIT_OK


def cmd_grade(args) -> int:
    from hankebot.service.evaluation import grade_bid

    ctx = _ctx(args)
    try:
        pts = Decimal(args.points)
    except InvalidOperation:
        print(f"not a number: {args.points}", file=sys.stderr)
        return EXIT_USAGE
    g = grade_bid(ctx, args.bid, args.criterion, pts, args.why, actor=f"cli:{os.environ.get('USER', 'admin')}")
    print(f"bid #{args.bid} {args.criterion}: {g.points} p ({g.level_name})")
    return EXIT_OK


def cmd_decide_bid(args) -> int:
    from hankebot.service.decision import decide_bid

    ctx = _ctx(args)
    decide_bid(ctx, args.bid, args.cmd == "accept", args.why, actor=f"cli:{os.environ.get('USER', 'admin')}")
    print(f"bid #{args.bid} {'accepted' if args.cmd == 'accept' else 'rejected'}")
    return EXIT_OK


def cmd_report(args) -> int:
    from hankebot.service.report import write_report

    ctx = _ctx(args)
    files = write_report(ctx, _proc(ctx, args.proc), Path(args.out) if args.out else None)
    print(f"protocol: {files.xlsx}\n          {files.pdf}\nchart:    {files.chart_png}")
    return EXIT_OK


def cmd_extend(args) -> int:
    from hankebot.service.deadline import extend_deadline

    ctx = _ctx(args)
    try:
        new = datetime.strptime(args.deadline, "%d.%m.%Y %H:%M")
    except ValueError:
        print("give the deadline as DD.MM.YYYY HH:MM (Europe/Tallinn), e.g. 26.01.2026 15:00", file=sys.stderr)
        return EXIT_USAGE
    when = extend_deadline(ctx, _proc(ctx, args.proc), new, actor="cli")
    print(f"deadline now {ctx.local(when):%d.%m.%Y %H:%M %Z}; update config.toml too")
    return EXIT_OK


def cmd_decide(args) -> int:
    from hankebot.service.decision import decide_part, preview_decision
    from hankebot.service.outbound_decision import send_decision_letters

    ctx = _ctx(args)
    key = _proc(ctx, args.proc)
    print(preview_decision(ctx, key, args.part, args.bid, args.why).format_et())
    if args.preview:
        return EXIT_OK
    decide_part(ctx, key, args.part, args.bid, args.why, actor=f"cli:{os.environ.get('USER', 'admin')}")
    with ctx.uow() as uow:
        state = uow.repo.procurement(key).state
    if state != "decided":
        print("otsus salvestatud; hange jääb otsustamata osade ootele")
        return EXIT_OK
    if args.no_letters:
        print("otsustatud; kirjad: hankebot send-decision " + key)
        return EXIT_OK
    rep = asyncio.run(send_decision_letters(ctx, key))
    print(rep.format())
    return EXIT_FAIL if (rep.errors or rep.failed) else EXIT_OK


def cmd_send_decision(args) -> int:
    from hankebot.service.outbound_decision import send_decision_letters

    ctx = _ctx(args)
    rep = asyncio.run(send_decision_letters(ctx, _proc(ctx, args.proc), dry_run=args.dry_run,
                                            out_dir=Path(args.out) if args.out else None))
    print(rep.format())
    return EXIT_FAIL if (rep.errors or rep.failed) else EXIT_OK


def cmd_cancel(args) -> int:
    from hankebot.service.decision import cancel_procurement
    from hankebot.service.outbound_decision import send_cancellation_letters

    ctx = _ctx(args)
    key = _proc(ctx, args.proc)
    actor = f"cli:{os.environ.get('USER', 'admin')}"
    if args.dry_run:
        rep = asyncio.run(send_cancellation_letters(ctx, key, dry_run=True, out_dir=Path(args.out) if args.out else None,
                                                    preview_reason=args.why))
        print(rep.format())
        return EXIT_FAIL if rep.errors else EXIT_OK
    cancel_procurement(ctx, key, args.why, actor=actor)
    rep = asyncio.run(send_cancellation_letters(ctx, key))
    print(rep.format())
    return EXIT_FAIL if (rep.errors or rep.failed) else EXIT_OK


def cmd_register(args) -> int:
    from hankebot.service.register import write_register

    ctx = _ctx(args)
    files = write_register(ctx, _proc(ctx, args.proc), Path(args.out) if args.out else None)
    print(f"register: {files[0]}\n          {files[1]}")
    return EXIT_OK


def cmd_purge(args) -> int:
    from hankebot.service.purge import purge

    ctx = _ctx(args)
    rep = purge(ctx, _proc(ctx, args.proc), older_than_days=args.older_than_days, dry_run=args.dry_run)
    print(rep.format())
    return EXIT_OK if not rep.refused else EXIT_FAIL


def cmd_migrate(args) -> int:
    from hankebot.storage.database import current_revision

    ctx = _ctx(args)
    print(f"database at revision {current_revision(ctx.engine)}")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="hankebot", description="Runs a small-procurement bid invitation by email.",
                                 epilog="Exit codes: 0 ok, 1 refused/failed, 2 usage or config error, 3 sealed.")
    ap.add_argument("--config", help="config file (default: $HANKEBOT_CONFIG or ./config.toml)")
    ap.add_argument("-v", "--verbose", action="store_true")
    sub = ap.add_subparsers(dest="cmd", required=True, metavar="COMMAND")

    def add(name, fn, help_):
        p = sub.add_parser(name, help=help_, description=help_)
        p.set_defaults(fn=fn)
        return p

    p = add("check-config", cmd_check_config, "validate a config file and explain what it sets up")
    p.add_argument("path", nargs="?")
    p.add_argument("--no-files", action="store_true", help="do not check that form files exist")
    p = add("check-mail", cmd_check_mail, "connect to the configured IMAP and SMTP servers step by step, send a test "
            "message to the procurement mailbox and see it arrive; says the likely fix for each failure")
    p.add_argument("--no-send", action="store_true", help="do not send the test message")
    p.add_argument("--timeout", type=float, default=20.0, help="seconds per network step (default 20)")
    p.add_argument("--wait", type=float, default=60.0, help="seconds to wait for the test message (default 60)")
    p = add("demo", cmd_demo, "run the whole lifecycle of the reference procurement on embedded defaults")
    p.add_argument("--seconds", type=int, default=25, help="seconds from the invitations to the deadline (default 25)")
    p.add_argument("--keep", help="work in this directory and keep it (default: a temporary one)")
    p.add_argument("--bot", action="store_true",
                   help="also play the expert's side in Telegram against a local Bot API stand-in and print it")
    add("run", cmd_run, "the long-running service: IMAP listener, scheduler, notifications, Telegram bot")
    p = add("send-invitations", cmd_send_invitations, "pre-flight, then one invitation per bidder")
    p.add_argument("proc")
    p.add_argument("--dry-run", action="store_true", help="write the messages as .eml files, send nothing")
    p.add_argument("--out", help="directory for --dry-run .eml files")
    p = add("send-clarification", cmd_send_clarification, "send a clarification to every invitee alike")
    p.add_argument("proc")
    p.add_argument("--message", required=True, help="UTF-8 text file with the clarification")
    p.add_argument("--attach", action="append", help="file to attach (repeatable)")
    p.add_argument("--answers", type=int, help="id of the inbound question this answers")
    p = add("remind", cmd_remind, "remind invitees who have neither bid nor declined")
    p.add_argument("proc")
    p.add_argument("--label", help="batch label (a reminder batch is sent once per label)")
    p = add("status", cmd_status, "where each procurement stands (sealed-safe)")
    p.add_argument("proc", nargs="?")
    p.add_argument("--json", action="store_true")
    p.add_argument("--other", action="store_true", help="also list the newest mail that is no procurement's event")
    p = add("inspect", cmd_inspect, "classify one message and extract everything, storing nothing")
    p.add_argument("message", help=".eml file")
    p.add_argument("--received-at", help="ISO time the server received it (default: newest Received header)")
    p.add_argument("--json", action="store_true")
    p = add("fetch", cmd_fetch, "fetch new mail from IMAP once and process it, with progress")
    p.add_argument("--since", metavar="YYYY-MM-DD",
                   help="deliberate backfill: also read older mail the server received on or after this day "
                        "(default: past the checkpoint; on a first start from the earliest invitation date)")
    add("process", cmd_process, "process stored but unprocessed messages, and retry quarantined ones")
    p = add("results", cmd_results, "scores and ranking per part (after the opening)")
    p.add_argument("proc")
    p.add_argument("--json", action="store_true")
    p = add("grade", cmd_grade, "grade a bid on a quality criterion")
    p.add_argument("bid", type=int)
    p.add_argument("criterion")
    p.add_argument("points")
    p.add_argument("--why", required=True, help="justification")
    for name in ("accept", "reject"):
        p = add(name, cmd_decide_bid, f"{name} a bid that has problems (late, missing forms, ...)")
        p.add_argument("bid", type=int)
        p.add_argument("--why", required=True, help="reason")
    p = add("report", cmd_report, "write the evaluation protocol (xlsx, pdf, chart)")
    p.add_argument("proc")
    p.add_argument("--out")
    p = add("extend", cmd_extend, "move the deadline (reschedules everything)")
    p.add_argument("proc")
    p.add_argument("--deadline", required=True, help='"DD.MM.YYYY HH:MM" Europe/Tallinn')
    p = add("decide", cmd_decide, "confirm the successful bid per part (default: the top-ranked), then "
                                  "send the decision letters once every part is decided")
    p.add_argument("proc")
    p.add_argument("--part", type=int, help="decide only this part (default: every undecided part)")
    p.add_argument("--bid", type=int, help="a ranked bid other than the top-ranked one (needs --why)")
    p.add_argument("--why", help="written reason (required with --bid)")
    p.add_argument("--preview", action="store_true", help="show what would be decided, record nothing")
    p.add_argument("--no-letters", action="store_true", help="record the decision, send the letters later")
    p = add("send-decision", cmd_send_decision, "send (or finish sending) the decision letter to every bidder")
    p.add_argument("proc")
    p.add_argument("--dry-run", action="store_true", help="write the letters as .eml files, send nothing")
    p.add_argument("--out", help="directory for --dry-run .eml files")
    p = add("cancel", cmd_cancel, "cancel the procurement (any state but decided) and tell every invitee")
    p.add_argument("proc")
    p.add_argument("--why", required=True, help="reason, quoted in the letters")
    p.add_argument("--dry-run", action="store_true", help="write the letters as .eml files, cancel nothing")
    p.add_argument("--out", help="directory for --dry-run .eml files")
    p = add("register", cmd_register, "export the letters register (every message sent and received) as XLSX and CSV")
    p.add_argument("proc")
    p.add_argument("--out")
    p = add("purge", cmd_purge, "remove raw messages and attachments of a decided procurement (keeps protocol and audit log)")
    p.add_argument("proc")
    p.add_argument("--older-than-days", type=int, default=None, help="default: the procurement's retention_days")
    p.add_argument("--dry-run", action="store_true")
    add("migrate", cmd_migrate, "bring the database schema up to date")
    return ap


def main(argv: list[str] | None = None, frontend=None) -> int:
    """`frontend`: what `run` and `demo` start to deliver notifications (the program's entry point,
    hankebot.app, passes the Telegram bot's; None leaves them in the outbox)."""
    try:
        return _main(argv, frontend)
    except BrokenPipeError:  # e.g. `hankebot check-config | head`: the reader left early; no traceback
        for stream in (sys.stdout, sys.stderr):
            try:
                os.dup2(os.open(os.devnull, os.O_WRONLY), stream.fileno())  # the flush at exit must not fail
            except (OSError, ValueError):
                pass
        return 128 + signal.SIGPIPE


def _main(argv: list[str] | None, frontend=None) -> int:
    from hankebot.core.lifecycle import LifecycleError
    from hankebot.service.config import ConfigError
    from hankebot.service.evaluation import Sealed

    args = build_parser().parse_args(argv)
    args.frontend = frontend
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for h in logging.getLogger().handlers:
        if REDACT not in h.filters:
            h.addFilter(REDACT)
    try:
        return args.fn(args)
    except ConfigError as e:
        print(str(e), file=sys.stderr)
        return EXIT_USAGE
    except Sealed as e:
        print(f"sealed: prices and scores are not shown before the opening ({e.opens_at:%d.%m.%Y %H:%M %Z})", file=sys.stderr)
        return EXIT_SEALED
    except (LifecycleError, ValueError) as e:  # DecisionError is a ValueError
        print(f"refused: {e}", file=sys.stderr)
        return EXIT_FAIL
    except KeyError as e:
        print(f"not found: {e.args[0] if e.args else e}", file=sys.stderr)
        return EXIT_USAGE
    except FileNotFoundError as e:
        print(f"file not found: {e.filename}", file=sys.stderr)
        return EXIT_USAGE



if __name__ == "__main__":  # the program composes the bot in hankebot.app; this module alone would start no bot
    sys.exit("usage: python -m hankebot ... (or the hankebot command); hankebot.service.cli is not the entry point")
