"""Secrets (SMTP password, bot token) come from the environment and must never show up in logs, config dumps,
command output or error texts: check-config, a refused SMTP login (report, notification, audit rows, DEBUG
logs), the settings dump, and `hankebot -v run` itself (subprocess, DEBUG logging, talking to the Bot API
stand-in, whose URLs carry the token)."""
from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from sqlmodel import select

from hankebot.devstack._process import free_ports
from hankebot.devstack.telegram_api import FakeTelegramAPI
from hankebot.service.config import load_config
from hankebot.service.context import open_context
from hankebot.service.invitations import send_invitations
from hankebot.service.send_engine import OutboundOptions
from hankebot.storage.tables import AuditLog
from hankebot.devstack.sample_forms import write_templates
from helpers import REPO, Clock, make_config, utc
from test_faults_env import notification_rows

pytestmark = pytest.mark.timeout(60)

SMTP_PW = "Smtp-Secret-Pw-5521xq"
TOKEN = "7777777:Secret-Bot-Token-Zq93XvLp"
SECRETS = (SMTP_PW, TOKEN, TOKEN.split(":", 1)[1])
STAFF = 5001


def found(text: str) -> list[str]:
    return [s for s in SECRETS if s in text]


class _Reject:
    async def handle_DATA(self, server, session, envelope):
        return "250 2.0.0 Ok"


def _refuse_everyone(server, session, envelope, mechanism, auth_data):
    return AuthResult(success=False, handled=False)


@pytest.fixture
def smtp_refusing_login():
    port = free_ports(1)[0]
    ctl = Controller(_Reject(), hostname="127.0.0.1", port=port, authenticator=_refuse_everyone,
                     auth_require_tls=False)
    ctl.start()
    try:
        yield port
    finally:
        ctl.stop()


def _config(tmp_path, smtp_port: int, api: FakeTelegramAPI | None = None):
    def edit(data):
        data["mail"]["smtp"] = {"host": "127.0.0.1", "port": smtp_port, "security": "none",
                                "username": "hange@example.ee", "max_attempts": 2, "timeout_seconds": 5}
        del data["mail"]["imap"]
        data["telegram"]["staff"] = [{"name": "Taimi Nilson", "user_id": STAFF}]
        if api is not None:
            data["telegram"]["base_url"] = api.base_url
            data["telegram"]["base_file_url"] = api.base_file_url

    path = make_config(tmp_path, edit=edit, forms=False)
    write_templates(tmp_path / "forms" / "302834")  # real forms: check-config opens them
    return path


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": str(REPO), "HANKEBOT_SMTP_PASSWORD": SMTP_PW,
            "HANKEBOT_TELEGRAM_TOKEN": TOKEN, "HANKEBOT_IMAP_PASSWORD": SMTP_PW}


async def _cli(cfg, *args: str, run_for: float | None = None) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hankebot", "--config", str(cfg), *args, cwd=REPO, env=_env(),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    if run_for is not None:
        await asyncio.sleep(run_for)
        proc.send_signal(signal.SIGTERM)
    out, _ = await asyncio.wait_for(proc.communicate(), 40)
    return proc.returncode, out.decode("utf-8", "replace")


async def test_refused_smtp_login_and_dumps_reveal_no_secret(tmp_path, smtp_refusing_login, monkeypatch, caplog):
    cfg = _config(tmp_path, smtp_refusing_login)
    monkeypatch.setenv("HANKEBOT_SMTP_PASSWORD", SMTP_PW)
    monkeypatch.setenv("HANKEBOT_TELEGRAM_TOKEN", TOKEN)
    loaded = load_config(cfg)
    assert loaded.secret("smtp_password") == SMTP_PW  # the secret is really in use
    assert found(loaded.settings.model_dump_json()) == [] and found(repr(loaded)) == []
    ctx = open_context(loaded, clock=Clock(utc(2026, 1, 5, 8, 0)))
    caplog.set_level(logging.DEBUG)
    report = await send_invitations(ctx, "302834", opts=OutboundOptions(backoff_base_seconds=0.01))
    assert report.failed or report.errors, report.format()  # the login was refused
    texts = [report.format(), caplog.text, *(n.text for n in notification_rows(ctx))]
    with ctx.uow() as uow:
        texts += [str(a.details) for a in uow.repo.s.exec(select(AuditLog)).all()]
    joined = "\n".join(texts)
    assert "535" in joined or "auth" in joined.lower()
    assert found(joined) == []
    code, out = await _cli(cfg, "check-config")
    assert code == 0 and "OK" in out and found(out) == []
    print(f"\nsurvived: refused SMTP login ({len(report.failed)} failed, {len(report.errors)} errors), report, "
          f"{len(notification_rows(ctx))} notifications, audit rows, DEBUG logs ({len(caplog.records)} records), "
          f"settings dump and check-config: 0 secrets")


async def test_the_running_service_logs_no_secret_at_debug(tmp_path, smtp_refusing_login):
    async with FakeTelegramAPI(token=TOKEN) as api:
        api.add_chat(STAFF, first_name="Taimi")
        cfg = _config(tmp_path, smtp_refusing_login, api)
        code, out = await _cli(cfg, "-v", "run", run_for=6.0)
        assert api.requests_for("getMe") and api.requests_for("getUpdates"), out[-3000:]  # it did use the token
    assert "DEBUG" in out  # the service really logged at DEBUG
    assert found(out) == [], [line for line in out.splitlines() if found(line)][:5]
    print(f"\nsurvived: `hankebot -v run` for 6 s against the Bot API stand-in ({len(api.requests)} API calls, "
          f"{len(out.splitlines())} log lines at DEBUG): 0 secrets in the output")
