"""config.toml: the admin's file. Validated with pydantic v2; errors name the file, the field and the fault.

The settings models live in config_service.py (service, mail, OAuth2, Telegram, limits) and
config_procurement.py (one procurement); this module holds the root model, reading and validating the
file, the error messages and secrets.

Secrets (mail passwords, the bot token) never live in config.toml: a config field names a secret,
and its value comes from the environment (HANKEBOT_<NAME>) or from a secrets file that is not committed.
"""
from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field as dc_field
from pathlib import Path
from zoneinfo import ZoneInfo

from pydantic import ConfigDict, Field, ValidationError, model_validator

from hankebot.service.config_procurement import ProcurementSettings, consistency_errors, duplicate_errors
from hankebot.service.config_service import (
    AttachmentLimitSettings,
    MailSettings,
    ServiceSettings,
    SignatureSettings,
    StrictModel,
    TelegramSettings,
)


class Settings(StrictModel):
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
        duplicate_errors(errs, "procurement", "key", [p.key for p in self.procurements])
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
