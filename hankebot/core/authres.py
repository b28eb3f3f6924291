"""Authentication-Results (RFC 8601) as the receiving server wrote it, and what it says about the From:.

Our own parser, because real servers write two forms: Gmail's `mx.google.com; dkim=pass ...` (an
authserv-id first) and Exchange Online's `spf=pass (...) smtp.mailfrom=x; dkim=pass ...; compauth=pass
reason=100` (no authserv-id, against the RFC; the `authres` package raises on it).

Rules (from tools that check it): trust only the receiving server's header (the topmost, or the one with
the configured authserv-id; a sender can forge any number lower down); the From: domain must be aligned
with what passed; dmarc=fail wins over an aligned dkim=pass; flag for a human, never drop."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

_COMMENT = re.compile(r"\([^()]*\)")
_METHOD = re.compile(r"^\s*([A-Za-z0-9_-]+)(?:/[0-9]+)?\s*=\s*([A-Za-z0-9_-]+)(.*)$", re.S)
_PROP = re.compile(r"([A-Za-z0-9_-]+\.[A-Za-z0-9_.-]+)\s*=\s*(\"[^\"]*\"|[^\s;]+)")
FAILING = frozenset({"fail", "softfail", "permerror", "hardfail"})


@dataclass(frozen=True)
class MethodResult:
    method: str  # spf | dkim | dmarc | compauth | arc | ...
    result: str  # pass | fail | none | ...
    props: dict = field(default_factory=dict)  # e.g. {"header.d": "example.com"}


@dataclass(frozen=True)
class AuthResults:
    authserv_id: str | None  # None: Exchange Online's form
    results: tuple[MethodResult, ...]


def _strip_comments(v: str) -> str:
    prev = None
    while prev != v:
        prev, v = v, _COMMENT.sub(" ", v)
    return v


def parse(value: str) -> AuthResults:
    """One header value. Never raises: what cannot be read is left out."""
    v = _strip_comments(" ".join((value or "").split()))
    parts = [p.strip() for p in v.split(";")]
    authserv = None
    if parts and not _METHOD.match(parts[0]):
        first = parts.pop(0).split()
        authserv = first[0].lower() if first else None
    results = []
    for p in parts:
        m = _METHOD.match(p)
        if not m:
            continue
        props = {k.lower(): val.strip('"').lower() for k, val in _PROP.findall(m.group(3))}
        results.append(MethodResult(m.group(1).lower(), m.group(2).lower(), props))
    return AuthResults(authserv, tuple(results))


def _domain(addr: str) -> str:
    return addr.rsplit("@", 1)[-1].strip().strip(">").lower() if addr else ""


def aligned(a: str, b: str) -> bool:
    """Relaxed alignment: the same domain, or one a subdomain of the other."""
    a, b = a.strip(".").lower(), b.strip(".").lower()
    return bool(a and b) and (a == b or a.endswith("." + b) or b.endswith("." + a))


@dataclass(frozen=True)
class SenderCheck:
    status: str  # verified | unverified | unchecked (no header and none required)
    reason: str  # English, for logs and the inspect view
    header: str | None = None  # the header value judged


def choose(headers: list[str], authserv_id: str | None) -> str | None:
    """The header to trust: the first (topmost) one, or the first whose authserv-id is the configured one."""
    for h in headers:
        if authserv_id is None or (parse(h).authserv_id or "") == authserv_id.lower():
            return h
    return None


def check_sender(headers: list[str], from_addr: str, authserv_id: str | None = None,
                 required: bool = True) -> SenderCheck:
    """`headers`: the message's Authentication-Results values, topmost first."""
    h = choose(headers, authserv_id)
    if h is None:
        if required:
            return SenderCheck("unverified", "no Authentication-Results" +
                               (f" from {authserv_id}" if authserv_id else ""))
        return SenderCheck("unchecked", "no Authentication-Results (not required)")
    res = parse(h)
    dom = _domain(from_addr)
    if not dom:
        return SenderCheck("unverified", "From: has no address", h)
    by = {}
    for r in res.results:
        by.setdefault(r.method, r)
    dmarc = by.get("dmarc")
    if dmarc is not None and dmarc.result in FAILING:
        return SenderCheck("unverified", f"dmarc={dmarc.result}", h)
    if dmarc is not None and dmarc.result == "pass" and aligned(dmarc.props.get("header.from", dom), dom):
        return SenderCheck("verified", "dmarc=pass", h)
    for r in res.results:
        if r.method == "dkim" and r.result == "pass" and aligned(r.props.get("header.d", "") or
                                                                 _domain(r.props.get("header.i", "")), dom):
            return SenderCheck("verified", f"dkim=pass aligned ({r.props.get('header.d') or r.props.get('header.i')})", h)
    spf = by.get("spf")
    if spf is not None and spf.result == "pass" and aligned(_domain(spf.props.get("smtp.mailfrom", "")), dom):
        return SenderCheck("verified", "spf=pass aligned", h)
    comp = by.get("compauth")
    if comp is not None and comp.result == "pass":
        return SenderCheck("verified", "compauth=pass", h)
    failed = [f"{r.method}={r.result}" for r in res.results if r.method in ("spf", "dkim", "dmarc", "compauth")
              and r.result in FAILING]
    if failed:
        return SenderCheck("unverified", ", ".join(failed), h)
    return SenderCheck("unverified", "no aligned pass for " + dom, h)
