"""auth = "password" | "oauth2" in [mail.imap] / [mail.smtp]: every wrong combination is an error naming its field."""
from __future__ import annotations

from pathlib import Path

import pytest

from hankebot.service.config import ConfigError, parse_config_text

BASE = '[mail.imap]\nusername = "hanked@example.test"\n'


def _problems(text: str) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as e:
        parse_config_text(text, Path("config.toml"))
    return e.value.problems


def test_oauth2_without_a_token_source():
    assert _problems(BASE + 'auth = "oauth2"\n') == [
        ("mail.imap", 'auth = "oauth2" needs a [mail.imap.oauth] table (provider, client_id, ...)')]


def test_microsoft365_needs_tenant_and_a_credential():
    probs = _problems(BASE + 'auth = "oauth2"\n[mail.imap.oauth]\nprovider = "microsoft365"\nclient_id = "x"\n')
    assert probs[0][0] == "mail.imap.oauth" and "tenant" in probs[0][1]
    probs = _problems(BASE + 'auth = "oauth2"\n[mail.imap.oauth]\nprovider = "microsoft365"\nclient_id = "x"\ntenant = "t"\n')
    assert probs[0][0] == "mail.imap.oauth" and "client_secret_secret or certificate_file" in probs[0][1]


def test_refresh_token_needs_token_url_and_unknown_provider_is_named():
    assert "token_url" in _problems('[mail.smtp]\nusername = "a@example.test"\nauth = "oauth2"\n'
                                    '[mail.smtp.oauth]\nprovider = "refresh_token"\nclient_id = "x"\n')[0][1]
    probs = _problems(BASE + 'auth = "oauth2"\n[mail.imap.oauth]\nprovider = "gmail"\nclient_id = "x"\n')
    assert probs[0][0] == "mail.imap.oauth.provider"


def test_oauth_table_with_password_auth_and_smtp_oauth_without_username():
    assert "set auth = \"oauth2\"" in _problems(
        BASE + '[mail.imap.oauth]\nprovider = "refresh_token"\nclient_id = "x"\ntoken_url = "https://t"\n')[0][1]
    assert "needs username" in _problems('[mail.smtp]\nauth = "oauth2"\n[mail.smtp.oauth]\nprovider = "refresh_token"\n'
                                         'client_id = "x"\ntoken_url = "https://t"\n')[0][1]


def test_a_valid_microsoft365_config_gets_the_outlook_scope():
    s = parse_config_text(BASE + 'auth = "oauth2"\n[mail.imap.oauth]\nprovider = "microsoft365"\nclient_id = "x"\n'
                          'tenant = "t"\nclient_secret_secret = "m365"\n', Path("config.toml"))
    assert s.mail.imap.oauth.scope == "https://outlook.office365.com/.default"


def test_check_config_asks_for_the_oauth_secrets_not_the_password(tmp_path, capsys, monkeypatch):
    from hankebot.service import cli

    for k in list(__import__("os").environ):
        if k.startswith("HANKEBOT_"):
            monkeypatch.delenv(k)
    p = tmp_path / "config.toml"
    p.write_text(f'[service]\nsecrets_file = "{tmp_path / "none.toml"}"\n' + BASE + 'auth = "oauth2"\n'
                 '[mail.imap.oauth]\nprovider = "microsoft365"\nclient_id = "x"\ntenant = "t"\n'
                 'client_secret_secret = "m365_client_secret"\n')
    assert cli.main(["check-config", str(p), "--no-files"]) == 0
    out = capsys.readouterr().out
    line = next(ln for ln in out.splitlines() if "secrets not set" in ln)
    assert "m365_client_secret" in line and "imap_password" not in line
    assert "IMAP login: OAuth2 (microsoft365) as hanked@example.test" in out


def test_a_certificate_file_without_a_private_key_is_a_config_error(tmp_path):
    from hankebot.devstack.oauth_server import write_self_signed
    from hankebot.service.config import load_config
    from hankebot.service.mail_auth import imap_endpoint

    write_self_signed(tmp_path / "app.crt", tmp_path / "app.key", "app")
    p = tmp_path / "config.toml"
    p.write_text(f'[service]\ndata_dir = "{tmp_path / "var"}"\n' + BASE + 'auth = "oauth2"\n[mail.imap.oauth]\n'
                 'provider = "microsoft365"\nclient_id = "x"\ntenant = "t"\ncertificate_file = "app.crt"\n')
    with pytest.raises(ConfigError) as e:
        imap_endpoint(load_config(p, check_files=False))
    assert e.value.problems == [("mail.imap.oauth.certificate_file",
                                 "the certificate file holds no private key (PEM with the key and the certificate)")]
