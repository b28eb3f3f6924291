"""config.toml, the service-wide settings: the service itself, mail (SMTP, IMAP, OAuth2, sender
authentication), Telegram and its staff, attachment limits and signatures. `StrictModel` is the base of
every settings model: unknown fields are errors, strings are stripped.
"""
from __future__ import annotations

from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ServiceSettings(StrictModel):
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


class OAuthSettings(StrictModel):
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


class SmtpSettings(StrictModel):
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


class ImapSettings(StrictModel):
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


class SenderAuthSettings(StrictModel):
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


class MailSettings(StrictModel):
    smtp: SmtpSettings = SmtpSettings()
    imap: ImapSettings | None = None
    authentication: SenderAuthSettings = SenderAuthSettings()
    receipts_per_hour: int = Field(20, ge=1, le=1000)  # automatic receipts per recipient address per hour


class StaffMember(StrictModel):
    name: str
    user_id: int
    chat_id: int | None = None  # defaults to user_id (a private chat)

    @property
    def chat(self) -> int:
        return self.chat_id if self.chat_id is not None else self.user_id


class TelegramSettings(StrictModel):
    token_secret: str | None = "telegram_token"
    base_url: str | None = None  # for a local Bot API (tests use a stand-in)
    base_file_url: str | None = None
    staff: list[StaffMember] = []
    # a staff chat_id that is a group or channel (negative id) gets only "a bid arrived" before the opening,
    # unless this is true (everyone in the group then reads who bid, their files and problems)
    sealed_detail_in_groups: bool = False


class AttachmentLimitSettings(StrictModel):
    max_total_mb: float = Field(50, gt=0)
    max_file_mb: float = Field(25, gt=0)
    max_depth: int = Field(5, ge=1, le=20)
    max_ratio: int = Field(100, ge=2)
    max_files: int = Field(200, ge=1)


class SignatureSettings(StrictModel):
    """Digital signatures of ASiC-E / BDOC bids. `trust_dir`: a folder of PEM/DER certificates that
    replaces the packaged SK ID Solutions trust anchors; `required`: a bid without a valid signature
    is a problem for the expert (not a rejection)."""

    trust_dir: str | None = None
    required: bool = False
