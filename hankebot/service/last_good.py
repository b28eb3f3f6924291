"""The last good config: a copy of config.toml kept in the data dir each time it loads, so `hankebot run`
started while a bad edit sits in the file serves on the copy (and says so) instead of staying down."""
from __future__ import annotations

import os
import tomllib
from datetime import datetime, timezone, tzinfo
from pathlib import Path

from hankebot.service.config import ConfigError, LoadedConfig, config_from_bytes, load_config
from hankebot.service.config_service import ServiceSettings

LAST_GOOD_NAME = "config.last-good.toml"


def last_good_path(config_path: Path) -> Path:
    """Where the copy of `config_path` lives: its data dir (service.data_dir). When the file is broken,
    its data_dir is read from the TOML if that much parses, else the default ("var" beside the file)."""
    config_path = Path(config_path).resolve()
    data_dir = ServiceSettings().data_dir
    try:
        service = tomllib.loads(config_path.read_text("utf-8")).get("service")
        if isinstance(service, dict) and isinstance(service.get("data_dir"), str):
            data_dir = service["data_dir"]
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        pass
    d = Path(data_dir)
    return (d if d.is_absolute() else config_path.parent / d) / LAST_GOOD_NAME


def save_last_good(cfg: LoadedConfig) -> Path:
    """Write `cfg`'s bytes atomically (0600) as the last good copy in its data dir."""
    dest = cfg.data_dir / LAST_GOOD_NAME
    dest.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = dest.with_name(dest.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, cfg.raw)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, dest)
    return dest


def load_config_or_last_good(config_path: Path) -> tuple[LoadedConfig, ConfigError | None, Path | None]:
    """(config, None, None) when the file loads; else (the last good copy, the file's error, the copy's
    path). Raises the file's ConfigError when there is no usable copy."""
    try:
        return load_config(config_path), None, None
    except ConfigError as bad:
        copy = last_good_path(config_path)
        try:
            raw = copy.read_bytes()
        except OSError:
            raise bad from None
        try:
            cfg = config_from_bytes(raw, Path(config_path).resolve())
        except ConfigError:
            raise bad from None  # e.g. a form file of the copy is gone too
        return cfg, bad, copy


def saved_at(copy: Path, tz: tzinfo) -> str:
    """The copy's modification time in the service's time zone, for messages."""
    return datetime.fromtimestamp(copy.stat().st_mtime, tz=timezone.utc).astimezone(tz).strftime("%d.%m.%Y %H:%M")
