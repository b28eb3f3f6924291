"""config.toml: the admin's file. Validated with pydantic v2; errors name the file, the field and the fault.

Secrets (mail passwords, the bot token) never live in config.toml: a config field names a secret,
and its value comes from the environment (HANKEBOT_<NAME>) or from a secrets file that is not committed.
"""
from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field as dc_field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from hankebot.core.models import OFFER_FIELDS, CostFormSpec, FormKind, FormSpec, PersonType, PriceBasis, PriceCell

TALLINN = ZoneInfo("Europe/Tallinn")
_EMAIL = re.compile(r"^[^@\s<>,;\"]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$")
_CELL = re.compile(r"^[A-Z]{1,3}[1-9][0-9]{0,6}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ServiceSettings(_Strict):
    database_url: str = "sqlite:///var/hankebot.sqlite"
    data_dir: str = "var"
    timezone: str = "Europe/Tallinn"
    language: Literal["et", "en"] = "et"
    secrets_file: str = "secrets.toml"
    templates_dir: str | None = None  # the admin's email templates; a file here overrides the packaged one

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except Exception:
            raise ValueError(f"unknown time zone {v!r} (use an IANA name such as Europe/Tallinn)")
        return v


class OAuthSettings(_Strict):
    """Where XOAUTH2 access tokens come from. provider "microsoft365": app-only access (client credentials
    through MSAL) with `tenant`, `client_id` and a client secret (`client_secret_secret` names it) or a
    certificate (`certificate_file`: PEM with the private key and the certificate). provider "refresh_token":
    the generic refresh-token grant at `token_url` (Google: https://oauth2.googleapis.com/token); the refresh
    token comes from the secret `refresh_token_secret` once, and every rotated one is stored in the data dir."""

    provider: Literal["microsoft365", "refresh_token"]
    client_id: str
    client_secret_secret: str | None = None
    tenant: str | None = None
    certificate_file: str | None = None
    authority_url: str = "https://login.microsoftonline.com"
    scope: str | None = None  # microsoft365: https://outlook.office365.com/.default
    token_url: str | None = None
    refresh_token_secret: str = "oauth_refresh_token"
    ca_file: str | None = None  # an extra CA bundle for the token endpoint's certificate
    refresh_margin_seconds: float = Field(300, ge=0, le=3000)

    @model_validator(mode="after")
    def _provider_fields(self) -> "OAuthSettings":
        if self.provider == "microsoft365":
            if not self.tenant:
                raise ValueError("provider microsoft365 needs tenant (the directory (tenant) ID of the app registration)")
            if not self.client_secret_secret and not self.certificate_file:
                raise ValueError("provider microsoft365 needs client_secret_secret or certificate_file")
            if not self.authority_url.startswith("https://"):
                raise ValueError("authority_url must be an https:// URL")
            if self.scope is None:
                self.scope = "https://outlook.office365.com/.default"
        elif not self.token_url:
            raise ValueError("provider refresh_token needs token_url (e.g. https://oauth2.googleapis.com/token)")
        return self


def _check_auth(s, section: str):
    if s.auth == "oauth2":
        if s.oauth is None:
            raise ValueError(f"auth = \"oauth2\" needs a [mail.{section}.oauth] table (provider, client_id, ...)")
        if not s.username:
            raise ValueError(f"auth = \"oauth2\" needs username (the mailbox address the token logs in as)")
    elif s.oauth is not None:
        raise ValueError(f"[mail.{section}.oauth] is set but auth is \"password\" (set auth = \"oauth2\")")
    return s


class SmtpSettings(_Strict):
    host: str = "127.0.0.1"
    port: int = Field(587, ge=1, le=65535)
    security: Literal["none", "starttls", "tls"] = "starttls"
    username: str | None = None
    auth: Literal["password", "oauth2"] = "password"
    password_secret: str | None = "smtp_password"
    oauth: OAuthSettings | None = None
    timeout_seconds: float = Field(30, gt=0)
    max_attempts: int = Field(5, ge=1, le=20)
    validate_certs: bool = True

    @model_validator(mode="after")
    def _auth(self) -> "SmtpSettings":
        return _check_auth(self, "smtp")


class ImapSettings(_Strict):
    host: str = "127.0.0.1"
    port: int = Field(993, ge=1, le=65535)
    security: Literal["none", "starttls", "tls"] = "tls"
    username: str
    auth: Literal["password", "oauth2"] = "password"
    password_secret: str | None = "imap_password"
    oauth: OAuthSettings | None = None
    folder: str = "INBOX"
    idle: bool = True
    poll_seconds: float = Field(60, gt=0)
    validate_certs: bool = True

    @model_validator(mode="after")
    def _auth(self) -> "ImapSettings":
        return _check_auth(self, "imap")


class SenderAuthSettings(_Strict):
    """Which Authentication-Results header to trust (the receiving server's) and whether one must exist.

    `authserv_id`: the receiving server's id (Gmail `mx.google.com`, your own MX's host name); unset, the
    topmost header is judged (Exchange Online writes none). `required`: a message with no such header is an
    unverified sender. Off by default so local servers (the demo, tests) that add no header keep working; in
    production set both (a sender can forge headers, only the receiving server's counts)."""

    authserv_id: str | None = None
    required: bool = False

    @field_validator("authserv_id")
    @classmethod
    def _id(cls, v: str | None) -> str | None:
        if v is not None and (not v or any(c.isspace() or c == ";" for c in v)):
            raise ValueError(f"{v!r} is not an authserv-id (a host name like mx.google.com)")
        return v.lower() if v else None


class MailSettings(_Strict):
    smtp: SmtpSettings = SmtpSettings()
    imap: ImapSettings | None = None
    authentication: SenderAuthSettings = SenderAuthSettings()
    receipts_per_hour: int = Field(20, ge=1, le=1000)  # automatic receipts per recipient address per hour


class StaffMember(_Strict):
    name: str
    user_id: int
    chat_id: int | None = None  # defaults to user_id (a private chat)

    @property
    def chat(self) -> int:
        return self.chat_id if self.chat_id is not None else self.user_id


class TelegramSettings(_Strict):
    token_secret: str | None = "telegram_token"
    base_url: str | None = None  # for a local Bot API (tests use a stand-in)
    base_file_url: str | None = None
    staff: list[StaffMember] = []
    # a staff chat_id that is a group or channel (negative id) gets only "a bid arrived" before the opening,
    # unless this is true (everyone in the group then reads who bid, their files and problems)
    sealed_detail_in_groups: bool = False


class AttachmentLimitSettings(_Strict):
    max_total_mb: float = Field(50, gt=0)
    max_file_mb: float = Field(25, gt=0)
    max_depth: int = Field(5, ge=1, le=20)
    max_ratio: int = Field(100, ge=2)
    max_files: int = Field(200, ge=1)


class SignatureSettings(_Strict):
    """Digital signatures of ASiC-E / BDOC bids. `trust_dir`: a folder of PEM/DER certificates that
    replaces the packaged SK ID Solutions trust anchors; `required`: a bid without a valid signature
    is a problem for the expert (not a rejection)."""

    trust_dir: str | None = None
    required: bool = False


class PriceCellSettings(_Strict):
    basis: PriceBasis
    sheet: str
    cell: str

    @field_validator("cell")
    @classmethod
    def _cell(cls, v: str) -> str:
        v = v.upper()
        if not _CELL.match(v):
            raise ValueError(f"{v!r} is not a cell address like B15")
        return v


class FormSettings(_Strict):
    key: str
    title: str
    kind: FormKind
    file: str  # relative to forms_dir
    required: bool = True
    price_cells: list[PriceCellSettings] = []
    min_price: Decimal | None = None
    max_price: Decimal | None = None
    # offer form: which of the template's label cells feeds which field (e.g. materials = "Õppevahendid ja
    # -materjalid"); labels not named here are recognised by their usual spellings
    labels: dict[str, str] = {}

    @model_validator(mode="after")
    def _cost_needs_cells(self) -> "FormSettings":
        unknown = sorted(set(self.labels) - set(OFFER_FIELDS))
        if unknown:
            raise ValueError(f"labels: unknown field(s) {', '.join(unknown)}; use {', '.join(OFFER_FIELDS)}")
        if self.kind == FormKind.COST and not self.price_cells:
            raise ValueError("a cost form needs price_cells (sheet and cell per price basis)")
        if self.kind != FormKind.COST and self.price_cells:
            raise ValueError("price_cells belong to a form of kind 'cost'")
        return self

    def spec(self) -> FormSpec:
        cost = None
        if self.kind == FormKind.COST:
            cost = CostFormSpec(
                cells=tuple(PriceCell(c.basis, c.sheet, c.cell) for c in self.price_cells),
                min_price=self.min_price,
                max_price=self.max_price,
            )
        return FormSpec(key=self.key, title=self.title, kind=self.kind, required=self.required, cost=cost)


class LevelSettings(_Strict):
    points: Decimal
    name: str
    description: str = ""


class CriterionSettings(_Strict):
    key: str
    name: str
    weight: Decimal = Field(gt=0)
    kind: Literal["price", "graded"]
    formula: Literal["seed", "ratio", "interpolation"] | None = None
    levels: list[LevelSettings] = []

    @model_validator(mode="after")
    def _shape(self) -> "CriterionSettings":
        if self.kind == "price":
            if self.formula is None:
                self.formula = "seed"
            if self.levels:
                raise ValueError("a price criterion has a formula, not levels")
        else:
            if self.formula is not None:
                raise ValueError("a graded criterion has levels, not a formula")
            if not self.levels:
                raise ValueError("a graded criterion needs levels (e.g. 30 / 15 / 5 points)")
            for lv in self.levels:
                if lv.points < 0 or lv.points > self.weight:
                    raise ValueError(f"level {lv.name!r} gives {lv.points} points, outside 0..{self.weight}")
        return self


class PartSettings(_Strict):
    number: int = Field(ge=1, le=99)
    name: str
    invited: bool = True  # bids are invited for this part
    criteria: list[CriterionSettings] | None = None  # None: the procurement's criteria


class BidderSettings(_Strict):
    key: str
    name: str
    email: str
    person_type: PersonType = PersonType.LEGAL
    parts: list[int] | None = None  # None: every invited part

    @field_validator("email")
    @classmethod
    def _email(cls, v: str) -> str:
        if not _EMAIL.match(v):
            raise ValueError(f"{v!r} is not a valid e-mail address")
        return v.lower()


class ScoringSettings(_Strict):
    rounding_places: int = Field(2, ge=0, le=6)
    rounding: Literal["half_up", "half_even"] = "half_up"
    tie_break: Literal["earliest_receipt", "quality_first"] = "earliest_receipt"


class ReminderSettings(_Strict):
    """Reminders to silent invitees: working days before the deadline. Empty = off (the default)."""

    working_days_before: list[Annotated[int, Field(ge=1, le=60)]] = []
    min_clarification_working_days: int = Field(3, ge=0)


class ProcurementSettings(_Strict):
    key: str
    reference: str
    title: str
    procurer: str
    procurer_code: str | None = None
    expert_name: str
    expert_email: str
    mailbox: str  # Reply-To: where bids arrive (the IMAP account)
    invitation_date: date | None = None
    deadline: datetime  # local time in service.timezone unless it carries an offset
    opening_delay_minutes: int = Field(0, ge=0, le=24 * 60)
    # after the deadline, forms from an invited address (no thread, no reference) still count as this
    # procurement's (a late bid) for this many days; later they are unrelated mail
    grace_days: int = Field(14, ge=0, le=365)
    forms_dir: str
    forms: list[FormSettings]
    contract_form: str | None = None  # file in forms_dir attached to the successful bidder's letter (contract draft)
    criteria: list[CriterionSettings]
    parts: list[PartSettings]
    bidders: list[BidderSettings]
    scoring: ScoringSettings = ScoringSettings()
    reminders: ReminderSettings = ReminderSettings()
    receipts: bool = True
    cancelled: bool = False
    retention_days: int = Field(365, ge=0)  # `hankebot purge` removes raw mail of a decided procurement after this

    @field_validator("expert_email", "mailbox")
    @classmethod
    def _email(cls, v: str) -> str:
        if not _EMAIL.match(v):
            raise ValueError(f"{v!r} is not a valid e-mail address")
        return v.lower()

    @field_validator("key")
    @classmethod
    def _key(cls, v: str) -> str:
        if not re.match(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$", v):
            raise ValueError("use letters, digits, '-', '_' or '.' (it is used in commands and file names)")
        return v

    @model_validator(mode="after")
    def _consistency(self) -> "ProcurementSettings":
        errs = consistency_errors(self.model_dump(mode="json"))
        if errs:
            raise ValueError("; ".join(errs))
        return self

    def deadline_at(self, tz: ZoneInfo) -> datetime:
        d = self.deadline
        return d if d.tzinfo else d.replace(tzinfo=tz)

    def criteria_for(self, part_no: int) -> list[CriterionSettings]:
        for p in self.parts:
            if p.number == part_no and p.criteria is not None:
                return p.criteria
        return self.criteria

    def invited_parts(self, bidder: BidderSettings) -> list[int]:
        invited = [p.number for p in self.parts if p.invited]
        return [n for n in invited if bidder.parts is None or n in bidder.parts]

    def form_specs(self) -> list[FormSpec]:
        return [f.spec() for f in self.forms]


def _unique(errs: list[str], where: str, what: str, values: list) -> None:
    """One error per repeated value, naming every entry that has it: `bidders[0] and bidders[3] have the
    same key 'x'`."""
    at: dict = {}
    for i, v in enumerate(values):
        if v is not None:
            at.setdefault(v, []).append(i)
    for v, idx in at.items():
        if len(idx) > 1:
            names = [f"{where}[{i}]" for i in idx]
            both = ", ".join(names[:-1]) + " and " + names[-1]
            errs.append(f"{both} have the same {what} {v!r}")


def _list(d: dict, key: str) -> list[dict]:
    v = d.get(key)
    return [x for x in v if isinstance(x, dict)] if isinstance(v, list) else []


def consistency_errors(proc: dict) -> list[str]:
    """The cross-field checks of one procurement, on its plain data (a model dump, or the raw TOML table
    when some field failed validation, so these problems are listed with the others, not hidden)."""
    errs: list[str] = []
    forms, parts, bidders = _list(proc, "forms"), _list(proc, "parts"), _list(proc, "bidders")
    _unique(errs, "forms", "key", [f.get("key") for f in forms])
    _unique(errs, "parts", "number", [p.get("number") for p in parts])
    _unique(errs, "bidders", "key", [b.get("key") for b in bidders])
    _unique(errs, "bidders", "email",
            [b["email"].lower() if isinstance(b.get("email"), str) else None for b in bidders])
    numbers = {p.get("number") for p in parts}
    for b in bidders:
        for n in b.get("parts") or [] if isinstance(b.get("parts"), list) else []:
            if n not in numbers:
                errs.append(f"bidder {b.get('key')!r} is invited to part {n}, which is not configured")
    lists = [(proc.get("criteria"), "criteria")] + [
        (p.get("criteria"), f"part {p.get('number')} criteria") for p in parts if p.get("criteria") is not None]
    for crit, where in lists:
        crit = [c for c in crit if isinstance(c, dict)] if isinstance(crit, list) else []
        _unique(errs, where, "key", [c.get("key") for c in crit])
        try:
            total = sum((Decimal(str(c.get("weight"))) for c in crit), Decimal(0))
        except (ArithmeticError, ValueError):
            total = None  # a weight that is not a number is reported on its own field
        if total is not None and total.is_finite() and total != 100:
            errs.append(f"{where}: weights add up to {total.normalize():f}, not 100")
        if sum(1 for c in crit if c.get("kind") == "price") > 1:
            errs.append(f"{where}: more than one price criterion")
    if not any(f.get("kind") == FormKind.COST.value for f in forms):
        errs.append("no form of kind 'cost' (the price comes from the cost form)")
    return errs


class Settings(_Strict):
    service: ServiceSettings = ServiceSettings()
    mail: MailSettings = MailSettings()
    telegram: TelegramSettings = TelegramSettings()
    attachments: AttachmentLimitSettings = AttachmentLimitSettings()
    signatures: SignatureSettings = SignatureSettings()
    procurements: list[ProcurementSettings] = Field(default_factory=list, alias="procurement")

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @model_validator(mode="after")
    def _unique_procurements(self) -> "Settings":
        errs: list[str] = []
        _unique(errs, "procurement", "key", [p.key for p in self.procurements])
        if errs:
            raise ValueError("; ".join(errs))
        return self

    def procurement(self, key: str) -> ProcurementSettings:
        for p in self.procurements:
            if p.key == key or p.reference == key:
                return p
        known = ", ".join(p.key for p in self.procurements) or "none"
        raise KeyError(f"no procurement {key!r} in the config (known: {known})")


class ConfigError(Exception):
    """A config that cannot be used. `problems` are (field path, message) pairs."""

    def __init__(self, path: Path, problems: list[tuple[str, str]]):
        self.path = path
        self.problems = problems
        lines = [f"{path}: {len(problems)} problem(s) in the configuration:"]
        lines += [f"  - {field}: {msg}" for field, msg in problems]
        super().__init__("\n".join(lines))


@dataclass(frozen=True)
class LoadedConfig:
    path: Path
    settings: Settings
    text_sha256: str
    raw: bytes = dc_field(default=b"", repr=False)  # the file's bytes as loaded (kept as the last good copy)

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.settings.service.timezone)

    def resolve(self, p: str) -> Path:
        q = Path(p)
        return q if q.is_absolute() else (self.base_dir / q)

    @property
    def data_dir(self) -> Path:
        return self.resolve(self.settings.service.data_dir)

    @property
    def database_url(self) -> str:
        url = self.settings.service.database_url
        if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
            rel = url[len("sqlite:///"):]
            if rel and rel != ":memory:":
                return "sqlite:///" + str(self.resolve(rel))
        return url

    def secret(self, name: str | None) -> str | None:
        """HANKEBOT_<NAME> from the environment, else the secrets file; None when absent."""
        if not name:
            return None
        env = os.environ.get("HANKEBOT_" + name.upper())
        if env:
            return env
        sf = self.resolve(self.settings.service.secrets_file)
        if sf.is_file():
            try:
                data = tomllib.loads(sf.read_text("utf-8"))
            except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
                raise ConfigError(sf, [("(file)", f"secrets file is not valid TOML: {e}")])
            v = data.get(name)
            return str(v) if v is not None else None
        return None


def _loc(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def parse_config_text(text: str, path: Path) -> Settings:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(path, [("(syntax)", f"not valid TOML: {e}")])
    try:
        return Settings.model_validate(data)
    except ValidationError as e:
        problems = []
        for err in e.errors():
            msg = err["msg"]
            if msg.startswith("Value error, "):
                msg = msg[len("Value error, "):]
            if err["type"] == "extra_forbidden":
                msg = "unknown field (check the spelling)"
            msg += _date_hint(err)
            problems.append((_loc(err["loc"]), msg))
        # a failing field stops pydantic before the cross-field checks of its procurement: run them on the
        # raw table too, so every problem is listed at once (a weight total is not hidden by a level error)
        procs = data.get("procurement")
        for i, proc in enumerate(procs if isinstance(procs, list) else []):
            if not isinstance(proc, dict):
                continue
            loc = f"procurement[{i}]"
            known = {part for f, m in problems if f == loc for part in m.split("; ")}
            problems += [(loc, m) for m in consistency_errors(proc) if m not in known]
        raise ConfigError(path, problems)


_DATE_EXAMPLES = {"datetime": "2026-01-19T15:00:00", "date": "2026-01-19"}


def _date_hint(err) -> str:
    """For a date or date-time field: the form it expects, e.g. `deadline = 2026-01-19T15:00:00`."""
    kind = "datetime" if err["type"].startswith("datetime") else "date" if err["type"].startswith("date") else None
    field = next((x for x in reversed(err["loc"]) if isinstance(x, str)), None)
    if kind is None or field is None:
        return ""
    return f"; write it like `{field} = {_DATE_EXAMPLES[kind]}` (a TOML {kind.replace('datetime', 'date-time')}, no quotes)"


def load_config(path: str | Path, check_files: bool = True) -> LoadedConfig:
    path = Path(path).resolve()
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise ConfigError(path, [("(file)", f"cannot read: {e.strerror or e}")])
    return config_from_bytes(raw, path, check_files)


def trust_dir_problems(cfg: LoadedConfig) -> list[tuple[str, str]]:
    """An admin's signature trust folder must hold certificate files (else nothing would be trusted)."""
    if not cfg.settings.signatures.trust_dir:
        return []
    tdir = cfg.resolve(cfg.settings.signatures.trust_dir)
    if tdir.is_dir() and any(x.suffix.lower() in (".pem", ".crt", ".cer", ".der") for x in tdir.iterdir()):
        return []
    return [("signatures.trust_dir", f"no certificate files (.pem .crt .cer .der) in {tdir}")]


def config_from_bytes(raw: bytes, path: Path, check_files: bool = True) -> LoadedConfig:
    """The config in `raw` as if it were the file at `path` (relative paths resolve against its folder)."""
    import hashlib

    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(path, [("(file)", "not UTF-8 text")])
    settings = parse_config_text(text, path)
    cfg = LoadedConfig(path=path, settings=settings, text_sha256=hashlib.sha256(raw).hexdigest(), raw=raw)
    if check_files:
        problems = []
        for i, p in enumerate(settings.procurements):
            fdir = cfg.resolve(p.forms_dir)
            for j, f in enumerate(p.forms):
                if not (fdir / f.file).is_file():
                    problems.append((f"procurement[{i}].forms[{j}].file", f"form file not found: {fdir / f.file}"))
            if p.contract_form and not (fdir / p.contract_form).is_file():
                problems.append((f"procurement[{i}].contract_form", f"contract draft not found: {fdir / p.contract_form}"))
        problems.extend(trust_dir_problems(cfg))
        if problems:
            raise ConfigError(path, problems)
    return cfg
