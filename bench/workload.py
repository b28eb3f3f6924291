"""Benchmark workloads: a config for a local mail server, many bidders, many realistic bid messages
(real cost/offer form files from devstack.sample_forms), and fast delivery into a Dovecot Maildir.

Everything here is set-up; the benchmarks time the service code, not this."""
from __future__ import annotations

import json
import os
import pwd
import re
import socket
import time
import tomllib
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from hankebot.core.models import PriceBasis
from hankebot.devstack import sample_forms as sf
from hankebot.devstack import sample_mail as sm

REPO = Path(__file__).resolve().parent.parent
TALLINN = ZoneInfo("Europe/Tallinn")
MAILBOX = "tender@example.test"
MAILBOX_PW = "tender-bench-pw"
EXPERT = "expert@example.test"
EXPERT_PW = "expert-bench-pw"
PROC_KEY = "302834"
OFFER_NAME = "Lisa 2 pakkumuse vorm.docx"
COST_NAME = "Lisa 3 maksumuse vorm.xlsx"


@dataclass(frozen=True)
class Bidder:
    key: str
    name: str
    email: str
    person_type: str  # legal | natural


def make_bidders(n: int) -> list[Bidder]:
    """n invited bidders on @example.test; every fourth is a natural person."""
    out = []
    for i in range(1, n + 1):
        natural = i % 4 == 0
        name = f"Pakkuja {i:03d}" if natural else f"Koolitus {i:03d} OÜ"
        out.append(Bidder(f"b{i:03d}", name, f"bidder{i:03d}@example.test", "natural" if natural else "legal"))
    return out


# ------------------------------------------------------------------ config


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, (datetime, date)):
        return v.isoformat()
    if isinstance(v, (str, Decimal)):
        return json.dumps(str(v), ensure_ascii=False)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {_toml_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(type(v))


def _toml_table(lines: list[str], path: str, table: dict, array: bool = False) -> None:
    """A TOML writer for the config's shapes (dicts become tables, lists of dicts arrays of tables)."""
    def is_tables(v) -> bool:
        return isinstance(v, list) and bool(v) and all(isinstance(x, dict) for x in v)

    if path:
        lines.append(f"\n[[{path}]]" if array else f"\n[{path}]")
    for k, v in table.items():
        if not isinstance(v, dict) and not is_tables(v):
            lines.append(f"{json.dumps(k)} = {_toml_value(v)}")
    for k, v in table.items():
        sub = f"{path}.{k}" if path else k
        if isinstance(v, dict):
            _toml_table(lines, sub, v)
        elif is_tables(v):
            for item in v:
                _toml_table(lines, sub, item, array=True)


def write_config(base: Path, imap_port: int, smtp_port: int, bidders: list[Bidder], deadline: datetime,
                 procurements: int = 1, invite_all_parts: bool = False, receipts: bool = True,
                 idle: bool = True) -> Path:
    """config.toml + secrets.toml + form templates in `base`: the shipped procurement's forms, criteria and
    parts, our bidders, the local mail server, a SQLite file under base/var. `procurements` > 1 repeats
    the procurement with keys P001, P002, ... (each with its own reference and title)."""
    shipped = tomllib.loads((REPO / "config.toml").read_text("utf-8"))
    proc0 = shipped["procurement"][0]
    data = {
        "service": {"database_url": "sqlite:///var/hankebot.sqlite", "data_dir": "var", "timezone": "Europe/Tallinn"},
        "mail": {
            "smtp": {"host": "127.0.0.1", "port": smtp_port, "security": "none", "username": EXPERT,
                     "password_secret": "smtp_password", "max_attempts": 3},
            "imap": {"host": "127.0.0.1", "port": imap_port, "security": "none", "username": MAILBOX,
                     "password_secret": "imap_password", "idle": idle, "poll_seconds": 30},
        },
        "telegram": {"token_secret": "telegram_token", "staff": []},
        "attachments": shipped.get("attachments", {}),
        "procurement": [],
    }
    for i in range(procurements):
        p = {k: v for k, v in proc0.items() if k not in ("bidders", "invitation_date")}
        if procurements > 1:
            p["key"] = p["reference"] = f"P{i + 1:03d}"
            p["title"] = f"{proc0['title']} (hange {i + 1})"
        p.update(expert_email=EXPERT, mailbox=MAILBOX, forms_dir="forms", receipts=receipts,
                 deadline=deadline.astimezone(TALLINN).replace(tzinfo=None, microsecond=0))
        p["parts"] = [{**pt, "invited": True if invite_all_parts else pt["invited"]} for pt in proc0["parts"]]
        p["bidders"] = [{"key": b.key, "name": b.name, "email": b.email, "person_type": b.person_type} for b in bidders]
        data["procurement"].append(p)
    lines: list[str] = ["# generated by bench/workload.py"]
    _toml_table(lines, "", data)
    base.mkdir(parents=True, exist_ok=True)
    sf.write_templates(base / "forms")
    path = base / "config.toml"
    path.write_text("\n".join(lines) + "\n", "utf-8")
    secrets = base / "secrets.toml"
    secrets.write_text(f'smtp_password = "{EXPERT_PW}"\nimap_password = "{MAILBOX_PW}"\n', "utf-8")
    secrets.chmod(0o600)
    return path


def open_bench_context(config_path: Path, clock=None):
    """open_context on a bench config (migrates the SQLite file, syncs the config in)."""
    from hankebot.service.config import load_config
    from hankebot.service.context import open_context

    cfg = load_config(config_path)
    return open_context(cfg) if clock is None else open_context(cfg, clock=clock)


# ------------------------------------------------------------------ messages


class BidFactory:
    """Realistic bid messages: an offer form (.docx) and a cost form (.xlsx) per bidder, prices varying.

    Building the MIME for every message would dominate set-up time, so `templates` distinct messages are
    built with sample_mail.bid_message (different bidders, prices, quote styles) and message i is template
    i % templates with its own Message-ID and Date (so no two messages are byte-identical or share an id)."""

    def __init__(self, bidders: list[Bidder], templates: int = 200, to_addr: str = MAILBOX, seed: int = 0):
        self.bidders = bidders
        costs: dict[tuple[str, Decimal], bytes] = {}
        offers: dict[str, bytes] = {}
        self._templates: list[bytes] = []
        self._senders: list[Bidder] = []
        styles = ("outlook", "gmail", "thunderbird")
        for t in range(templates):
            b = bidders[(t + seed) % len(bidders)]
            price = Decimal(1500 + ((t * 7919 + seed) % 61) * 75)  # 1500 .. 6000 in 75 € steps
            basis = PriceBasis.NATURAL_TOTAL if b.person_type == "natural" else PriceBasis.LEGAL_WITH_VAT
            ck = (basis.value, price)
            if ck not in costs:
                costs[ck] = sf.make_cost_form(basis, price)
            if b.key not in offers:
                offers[b.key] = sf.make_offer_form(
                    b.name, f"{10000000 + int(b.key[1:]):08d}", [2], ["Mari Maasikas (MA psühholoogia)"],
                    "Õppematerjalid: slaidid, juhtumianalüüsid, iseseisva töö juhend.",
                    "Meetodid: loeng-arutelu, grupitööd, juhtumiarutelud, rollimängud.")
            raw = sm.bid_message(b.email, b.name, to_addr, quote_style=styles[t % 3],
                                 message_id=f"<TEMPLATE-{t:06d}@bench.example.test>",
                                 attachments=[(OFFER_NAME, offers[b.key]), (COST_NAME, costs[ck])])
            self._templates.append(raw)
            self._senders.append(b)

    def message(self, i: int, when: datetime | None = None) -> bytes:
        """Message number i (unique Message-ID <bench-i@...>)."""
        t = i % len(self._templates)
        raw = self._templates[t].replace(f"<TEMPLATE-{t:06d}@bench.example.test>".encode(), message_id(i).encode(), 1)
        if when is not None:
            from email.utils import format_datetime

            raw = re.sub(rb"^Date: [^\n]*", b"Date: " + format_datetime(when).encode(), raw, count=1, flags=re.M)
        return raw

    def sender_of(self, i: int) -> Bidder:
        return self._senders[i % len(self._templates)]


def message_id(i: int) -> str:
    return f"<bench-{i:07d}@bench.example.test>"


def large_attachment_message(bidder: Bidder, size: int, to_addr: str = MAILBOX) -> bytes:
    """A bid with both forms plus a scanned-looking PDF of `size` bytes (a valid PDF whose bulk is an
    incompressible embedded file, like a scan)."""
    import io

    from pypdf import PdfWriter

    w = PdfWriter()
    w.add_blank_page(595, 842)
    w.add_attachment("skaneeritud_allkirjaga.bin", os.urandom(size))
    buf = io.BytesIO()
    w.write(buf)
    price = Decimal("4200")
    basis = PriceBasis.NATURAL_TOTAL if bidder.person_type == "natural" else PriceBasis.LEGAL_WITH_VAT
    return sm.bid_message(bidder.email, bidder.name, to_addr, message_id="<bench-large@bench.example.test>",
                          attachments=[(OFFER_NAME, sf.make_offer_form(bidder.name, "12345678", [2], ["Mari Maasikas"],
                                                                       "Materjalid.", "Meetodid.")),
                                       (COST_NAME, sf.make_cost_form(basis, price)),
                                       ("Pakkumus allkirjastatud (skaneeritud).pdf", buf.getvalue())])


# ------------------------------------------------------------------ delivery


def mail_dir(base: Path) -> Path:
    """A MailServer base dir with a name no other instance uses: the devstack names the Dovecot instance
    after the base dir's last component ("hb-<name>"). (Before ca7d02a, stopping a server ended every process
    with that title, and a test's server under ".../mail" killed our IMAP session mid-fetch.)"""
    return base / f"mail-{base.name.rsplit('-', 1)[-1]}"


def maildir_of(server, user: str) -> Path:
    """The user's Maildir under a devstack MailServer (home = base/dovecot/mail/<domain>/<local part>)."""
    local, _, domain = user.partition("@")
    return server.base_dir / "dovecot" / "mail" / domain / local / "Maildir"


def write_maildir(server, user: str, messages, mtime: float | None = None) -> int:
    """Deliver by writing files straight into the user's Maildir/new (tmp/ then rename, as the Maildir
    spec asks), owned by the vmail user. Dovecot picks them up on the next SELECT. Returns bytes written."""
    vm = pwd.getpwnam("vmail")
    md = maildir_of(server, user)
    for d in (md.parent.parent, md.parent, md, md / "tmp", md / "new", md / "cur"):
        d.mkdir(exist_ok=True)
        os.chown(d, vm.pw_uid, vm.pw_gid)
        d.chmod(0o700)
    host, pid = socket.gethostname().replace("/", "_").replace(":", "_"), os.getpid()
    now = int(time.time())
    total = 0
    for i, raw in enumerate(messages):
        name = f"{now}.M{i:07d}P{pid}.{host},S={len(raw)}"
        tmp = md / "tmp" / name
        with open(tmp, "wb") as f:
            f.write(raw)
        os.chown(tmp, vm.pw_uid, vm.pw_gid)
        if mtime is not None:
            os.utime(tmp, (mtime, mtime))
        os.rename(tmp, md / "new" / name)
        total += len(raw)
    return total


def future_deadline(days: int = 30) -> datetime:
    return (datetime.now(TALLINN) + timedelta(days=days)).replace(microsecond=0)
