"""How the service logs in to its mail servers: a password, or an OAuth2 token source (one per settings, shared
by the IMAP listener and the sender in this process)."""
from __future__ import annotations

import hashlib
import threading

from hankebot.mailer.imap_listener import ImapEndpoint
from hankebot.mailer.oauth import (ClientCredentialsSource, OAuthError, RefreshTokenSource, RefreshTokenStore,
                                   TokenSource)
from hankebot.service.config import ConfigError, LoadedConfig
from hankebot.service.config_service import OAuthSettings

_sources: dict[tuple, TokenSource] = {}
_lock = threading.Lock()


def token_source(cfg: LoadedConfig, oauth: OAuthSettings, where: str) -> TokenSource:
    """The token source for `oauth` (`where` names the config table in errors, e.g. "mail.imap.oauth").
    Raises ConfigError for a missing secret or file, OAuthError when MSAL cannot be set up."""
    secret = cfg.secret(oauth.client_secret_secret) if oauth.client_secret_secret else None
    if oauth.client_secret_secret and not secret:
        raise ConfigError(cfg.path, [(f"{where}.client_secret_secret", f"secret {oauth.client_secret_secret!r} is "
                                      f"not set (env HANKEBOT_{oauth.client_secret_secret.upper()} or the secrets file)")])
    seed = cfg.secret(oauth.refresh_token_secret) if oauth.provider == "refresh_token" else None
    if oauth.provider == "refresh_token" and not seed:
        raise ConfigError(cfg.path, [(f"{where}.refresh_token_secret", f"secret {oauth.refresh_token_secret!r} is not "
                                      f"set (env HANKEBOT_{oauth.refresh_token_secret.upper()} or the secrets file)")])
    cert = None
    if oauth.certificate_file:
        try:
            cert = cfg.resolve(oauth.certificate_file).read_bytes()
        except OSError as e:
            raise ConfigError(cfg.path, [(f"{where}.certificate_file", f"cannot read: {e.strerror or e}")])
    ca = str(cfg.resolve(oauth.ca_file)) if oauth.ca_file else None
    key = (str(cfg.data_dir), oauth.model_dump_json(),
           hashlib.sha256(f"{secret}\0{seed}\0{cert!r}".encode()).hexdigest())
    with _lock:
        src = _sources.get(key)
        if src is None:
            if oauth.provider == "microsoft365":
                try:
                    src = ClientCredentialsSource(oauth.tenant or "", oauth.client_id, client_secret=secret,
                                                  certificate_pem=cert, scope=oauth.scope or "",
                                                  authority_url=oauth.authority_url, ca_file=ca)
                except OAuthError as e:  # an unusable certificate file
                    raise ConfigError(cfg.path, [(f"{where}.certificate_file", str(e))]) from None
            else:
                store = RefreshTokenStore(cfg.data_dir / "oauth" / f"{oauth.refresh_token_secret}.json")
                src = RefreshTokenSource(oauth.token_url or "", oauth.client_id, secret, seed or "", store,
                                         scope=oauth.scope, ca_file=ca)
            _sources[key] = src
    return src


def imap_endpoint(cfg: LoadedConfig, timeout: float = 60.0) -> ImapEndpoint | None:
    im = cfg.settings.mail.imap
    if im is None:
        return None
    src = token_source(cfg, im.oauth, "mail.imap.oauth") if im.auth == "oauth2" and im.oauth else None
    return ImapEndpoint(host=im.host, port=im.port, security=im.security, username=im.username,
                        password="" if src else (cfg.secret(im.password_secret) or ""), folder=im.folder,
                        validate_certs=im.validate_certs, timeout=timeout, token_source=src,
                        token_margin=im.oauth.refresh_margin_seconds if im.oauth else 300.0)


def smtp_credential(cfg: LoadedConfig) -> str | TokenSource | None:
    """The SMTP password, or the token source with auth = "oauth2"; None when neither is configured."""
    sm = cfg.settings.mail.smtp
    if sm.auth == "oauth2" and sm.oauth is not None:
        return token_source(cfg, sm.oauth, "mail.smtp.oauth")
    return cfg.secret(sm.password_secret) if sm.username else None


__all__ = ["OAuthError", "imap_endpoint", "smtp_credential", "token_source"]
