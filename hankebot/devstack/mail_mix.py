"""A realistic mix of inbound mail, for the extraction benchmark and the old-vs-new extraction test.

Built with the devstack generators only: clean bids (a .docx offer form and an .xlsx cost form, from legal
and natural persons, three quote styles), bids in a zip, ASiC-E signed bids (the local test PKI, LT
level), declines, questions, auto-replies, DSN bounces of our invitations and the unrelated mail of a
shared mailbox (noisy_mail: colleagues, newsletters, other procurements, invoices, spam). With
`other_formats` the bids also come with the other form formats (odt, pdf, xls, xlsm, ods)."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from hankebot.core.models import PriceBasis
from hankebot.devstack import noisy_mail, sample_forms as sf, sample_mail as sm
from hankebot.devstack.signing import LocalPKI, build_signed_asice

CATEGORIES = ("clean bid", "zip bid", "asice bid", "decline", "question", "auto-reply", "bounce", "unrelated")
TALLINN = dt.timezone(dt.timedelta(hours=2))
INVITATIONS_SENT = dt.datetime(2026, 1, 5, 10, 41, tzinfo=TALLINN)
RECEIVED = dt.datetime(2026, 1, 14, 10, 15, tzinfo=TALLINN)
_OFFER_FORMATS = ("docx", "odt", "pdf")
_COST_FORMATS = ("xlsx", "xlsm", "xls", "ods", "pdf")


@dataclass(frozen=True)
class MixBidder:
    key: str
    name: str
    email: str
    person_type: str  # legal | natural


@dataclass(frozen=True)
class MixMessage:
    category: str
    label: str
    raw: bytes
    received: dt.datetime


def invitation_id(i: int) -> str:
    """The Message-ID of our invitation to bidder number i (replies and bounces refer to it)."""
    return f"<invitation-{i:03d}@hanked.example.test>"


def build_mix(bidders: list[MixBidder], mailbox: str, pki: LocalPKI, rounds: int = 1,
              other_formats: bool = False) -> list[MixMessage]:
    """Messages of every category from `bidders` to `mailbox`, `rounds` times over (other prices each
    round). Every bidder sends a clean bid; every third also one in a zip, every third (offset) a signed
    ASiC-E; one in four declines, asks, or is out of office; one in six bounces; and the shared mailbox's
    unrelated mail (with the first three bidders' own other mail) comes with each round."""
    msgs: list[MixMessage] = []
    styles = ("outlook", "gmail", "thunderbird")

    def add(cat: str, label: str, raw: bytes, when: dt.datetime = RECEIVED) -> None:
        msgs.append(MixMessage(cat, label, raw, when))

    for r in range(rounds):
        for j, b in enumerate(bidders):
            i = r * len(bidders) + j
            basis = PriceBasis.NATURAL_TOTAL if b.person_type == "natural" else PriceBasis.LEGAL_WITH_VAT
            price = Decimal(1500 + (i * 7919 % 61) * 75)
            code = f"{10000000 + (i * 7) % 89999999:08d}"
            offer_fmt = _OFFER_FORMATS[i % len(_OFFER_FORMATS)] if other_formats else "docx"
            cost_fmt = _COST_FORMATS[i % len(_COST_FORMATS)] if other_formats else "xlsx"
            offer = sf.make_offer_form(b.name, code, [2], ["Mari Maasikas (MA psühholoogia)", "Jaan Tamm"],
                                       "Õppematerjalid: slaidid, juhtumianalüüsid, iseseisva töö juhend.",
                                       "Meetodid: loeng-arutelu, grupitööd, juhtumiarutelud, rollimängud.",
                                       fmt=offer_fmt)
            files = [(f"Lisa 2 pakkumuse vorm.{offer_fmt}", offer),
                     (f"Lisa 3 maksumuse vorm.{cost_fmt}", sf.make_cost_form(basis, price, fmt=cost_fmt))]
            style = styles[i % 3]
            when = RECEIVED + dt.timedelta(minutes=i)
            domain = b.email.rpartition("@")[2]
            add("clean bid", f"bid-{i}", sm.bid_message(b.email, b.name, mailbox, attachments=files, quote_style=style,
                                                        message_id=f"<bid-{i}@{domain}>",
                                                        in_reply_to=invitation_id(j), date=when), when)
            if j % 3 == 0:
                add("zip bid", f"zip-{i}", sm.bid_message(b.email, b.name, mailbox, attachments=files,
                                                          zip_attachments=True, quote_style=style,
                                                          message_id=f"<zip-{i}@{domain}>",
                                                          in_reply_to=invitation_id(j)))
            if j % 3 == 1:
                signer = pki.person() if b.person_type == "natural" else pki.e_seal(b.name, code)
                container = build_signed_asice(files, signer, pki)
                add("asice bid", f"asice-{i}", sm.bid_message(b.email, b.name, mailbox,
                                                              attachments=[("pakkumus.asice", container)],
                                                              quote_style=style, message_id=f"<asice-{i}@{domain}>",
                                                              in_reply_to=invitation_id(j)))
            if j % 4 == 2:
                add("decline", f"decline-{i}", sm.decline_message(b.email, b.name, mailbox, quote_style=style,
                                                                  message_id=f"<decline-{i}@{domain}>",
                                                                  in_reply_to=invitation_id(j)))
            if j % 4 == 3:
                add("question", f"question-{i}", sm.question_message(b.email, b.name, mailbox,
                                                                     message_id=f"<question-{i}@{domain}>",
                                                                     in_reply_to=invitation_id(j)))
            if j % 4 == 0:
                add("auto-reply", f"auto-{i}", sm.auto_reply_message(b.email, b.name, mailbox,
                                                                     language="en" if i % 2 else "et",
                                                                     message_id=f"<auto-{i}@{domain}>",
                                                                     in_reply_to=invitation_id(j)))
            if j % 6 == min(5, len(bidders) - 1):
                add("bounce", f"bounce-{i}", sm.bounce_message(b.email, invitation_id(j), from_addr=mailbox))
        invited = {b.key: (b.name, b.email) for b in bidders[:3]}
        for n in noisy_mail.noise(invited, INVITATIONS_SENT, RECEIVED):
            add("unrelated", f"{n.label}-{r}", n.raw, n.received)
    return msgs
