"""Setting up and looking after the service: check-config, demo, run, migrate, purge."""
from __future__ import annotations

import logging
from datetime import datetime, timezone
from pathlib import Path

from hankebot.service.cli.common import EXIT_FAIL, EXIT_OK, REDACT, config_path, open_ctx, proc_key


def cmd_check_config(args) -> int:
    from hankebot.service.config import ConfigError, load_config, trust_dir_problems
    from hankebot.service.form_files import form_file_problems

    path = Path(args.path) if args.path else config_path(args)
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
    loaded = load_config_or_last_good(config_path(args))  # a broken file: its last good copy, if any
    REDACT.add_config(loaded[0])
    return run_forever(config_path(args), loaded, frontend=args.frontend)


def cmd_purge(args) -> int:
    from hankebot.service.purge import purge

    ctx = open_ctx(args)
    rep = purge(ctx, proc_key(ctx, args.proc), older_than_days=args.older_than_days, dry_run=args.dry_run)
    print(rep.format())
    return EXIT_OK if not rep.refused else EXIT_FAIL


def cmd_migrate(args) -> int:
    from hankebot.storage.database import current_revision

    ctx = open_ctx(args)
    print(f"database at revision {current_revision(ctx.engine)}")
    return EXIT_OK
