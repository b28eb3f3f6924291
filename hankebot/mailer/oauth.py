"""OAuth2 access tokens for XOAUTH2 logins (IMAP and SMTP).

Two token sources, both thread-safe and refreshing a token before it expires (`token(min_valid)`):

- `ClientCredentialsSource`: Microsoft 365 app-only access through MSAL's ConfidentialClientApplication
  (tenant, client id, a client secret or a certificate; scope https://outlook.office365.com/.default).
- `RefreshTokenSource`: the generic refresh-token grant (Google Workspace and others). Every rotated refresh
  token is written to a `RefreshTokenStore` (a 0600 file, replaced atomically, under a file lock so two
  processes never spend the same refresh token) BEFORE the new access token is used: a provider that rotates
  refresh tokens would otherwise lock the service out once the first one is spent.

Token values are never logged; errors carry the provider's error code and description, not the request.
"""
from __future__ import annotations

import base64
import fcntl
import hashlib
import json
import logging
import os
import ssl
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol

log = logging.getLogger(__name__)

M365_SCOPE = "https://outlook.office365.com/.default"
M365_AUTHORITY = "https://login.microsoftonline.com"


class OAuthError(Exception):
    """No access token could be obtained. `code` is the provider's error code (invalid_grant, invalid_client,
    unauthorized_client, ...) or None when the endpoint could not be reached."""

    def __init__(self, message: str, code: str | None = None):
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class AccessToken:
    value: str
    expires_at: float  # epoch seconds

    def __repr__(self) -> str:  # never show the token itself
        return f"AccessToken(expires_at={self.expires_at:.0f})"

    def seconds_left(self, now: float | None = None) -> float:
        return self.expires_at - (time.time() if now is None else now)

    def claims(self) -> dict:
        """The token's JWT claims when it is a JWT (Microsoft's are), else {}. Not verified: only for
        diagnostics (roles, audience, tenant)."""
        parts = self.value.split(".")
        if len(parts) != 3:
            return {}
        try:
            pad = "=" * (-len(parts[1]) % 4)
            data = json.loads(base64.urlsafe_b64decode(parts[1] + pad))
        except (ValueError, UnicodeDecodeError):
            return {}
        return data if isinstance(data, dict) else {}


class TokenSource(Protocol):
    """Gives an access token valid for at least `min_valid` more seconds (fetching a new one when needed)."""

    def token(self, min_valid: float = 300.0) -> AccessToken: ...

    def invalidate(self) -> None:
        """Forget the current access token (the server refused it): the next `token()` fetches a new one."""


class _Cached:
    def __init__(self, clock: Callable[[], float]):
        self._clock = clock
        self._lock = threading.Lock()
        self._current: AccessToken | None = None
        self.fetches = 0  # how many times a new token was requested from the provider

    def token(self, min_valid: float = 300.0) -> AccessToken:
        with self._lock:
            cur = self._current
            if cur is not None and cur.seconds_left(self._clock()) > min_valid:
                return cur
            self.fetches += 1
            self._current = self._fetch()
            left = self._current.seconds_left(self._clock())
            if left <= min_valid:
                log.info("the provider's access tokens live %.0f s, less than the %.0f s margin", left, min_valid)
            return self._current

    def invalidate(self) -> None:
        with self._lock:
            self._current = None

    def _fetch(self) -> AccessToken:  # pragma: no cover - overridden
        raise NotImplementedError


class ClientCredentialsSource(_Cached):
    """Microsoft 365 (Entra ID) app-only tokens: MSAL's client-credentials flow.

    `certificate` is a PEM holding the private key and the certificate (its SHA-1 thumbprint is computed), the
    alternative to `client_secret`. `authority_url` defaults to Entra's global endpoint; another URL (a national
    cloud, or a local stand-in in tests) is used as given, without MSAL's instance discovery. `ca_file`: an extra
    CA bundle for the token endpoint's TLS certificate."""

    def __init__(self, tenant: str, client_id: str, client_secret: str | None = None,
                 certificate_pem: bytes | None = None, scope: str = M365_SCOPE,
                 authority_url: str = M365_AUTHORITY, ca_file: str | None = None, timeout: float = 30.0,
                 clock: Callable[[], float] = time.time):
        super().__init__(clock)
        if not client_secret and not certificate_pem:
            raise OAuthError("Microsoft 365 app-only access needs a client secret or a certificate")
        # checked now (a bad file is a config error); MSAL itself is set up at the first token request, because
        # it fetches the tenant's OpenID metadata then, and the network may be down when the service starts
        self._credential: object = _msal_certificate(certificate_pem) if certificate_pem else client_secret
        self.scope, self.client_id, self.tenant = scope, client_id, tenant
        self._authority_url, self._ca_file, self._timeout = authority_url, ca_file, timeout
        self._msal = None

    @property
    def _app(self):
        if self._msal is None:
            import msal

            authority = self._authority_url.rstrip("/") + "/" + self.tenant
            known = self._authority_url.rstrip("/") == M365_AUTHORITY
            try:
                self._msal = msal.ConfidentialClientApplication(
                    self.client_id, client_credential=self._credential, authority=authority,
                    instance_discovery=None if known else False, validate_authority=known,
                    http_client=_session(self._ca_file) if self._ca_file else None, timeout=self._timeout)
            except ValueError as e:  # bad authority URL, tenant discovery failed
                raise OAuthError(f"Microsoft identity platform at {authority}: {e}") from None
            except Exception as e:  # requests' connection errors during tenant discovery
                raise OAuthError(f"cannot reach the Microsoft identity platform at {authority}: "
                                 f"{type(e).__name__}: {e}") from None
        return self._msal

    def _fetch(self) -> AccessToken:
        # this class decides when a token is too old (or was refused): MSAL's own cache must not hand back
        # the token being replaced
        cache = self._app.token_cache
        for at in list(cache.search(cache.CredentialType.ACCESS_TOKEN)):
            cache.remove_at(at)
        try:
            res = self._app.acquire_token_for_client(scopes=[self.scope])
        except Exception as e:
            raise OAuthError(f"cannot reach the token endpoint: {type(e).__name__}: {e}") from None
        if "access_token" not in res:
            code = res.get("error")
            desc = (res.get("error_description") or "").splitlines()[0] if res.get("error_description") else ""
            raise OAuthError(f"token request refused: {code}: {desc}".rstrip(": "), code=code)
        return AccessToken(res["access_token"], self._clock() + float(res.get("expires_in", 3600)))


def _session(ca_file: str):
    """A requests session that checks the server against `ca_file` on every request (a session-wide `verify`
    loses to REQUESTS_CA_BUNDLE in the environment)."""
    import requests

    class _Pinned(requests.Session):
        def request(self, method, url, **kw):
            kw["verify"] = ca_file
            return super().request(method, url, **kw)

    return _Pinned()


def _msal_certificate(pem: bytes) -> dict:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.serialization import Encoding

    try:
        cert = x509.load_pem_x509_certificate(pem)
    except ValueError as e:
        raise OAuthError(f"the certificate file holds no PEM certificate: {e}") from None
    if b"PRIVATE KEY" not in pem:
        raise OAuthError("the certificate file holds no private key (PEM with the key and the certificate)")
    return {"private_key": pem.decode("ascii", "replace"), "thumbprint": cert.fingerprint(hashes.SHA1()).hex(),
            "public_certificate": cert.public_bytes(Encoding.PEM).decode()}


class RefreshTokenStore:
    """The current refresh token in a JSON file (mode 0600), tied to the configured seed token: when the admin
    configures a new refresh token (its hash differs), the new one wins over the stored rotated one."""

    def __init__(self, path: Path):
        self.path = Path(path)

    def _lock(self):
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(str(self.path) + ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        return fd

    def load(self, seed: str) -> str:
        """The newest refresh token for this seed: the stored one, or the seed itself."""
        try:
            data = json.loads(self.path.read_text("utf-8"))
        except (OSError, ValueError):
            return seed
        if isinstance(data, dict) and data.get("seed_sha256") == _sha(seed) and data.get("refresh_token"):
            return str(data["refresh_token"])
        return seed

    def save(self, seed: str, refresh_token: str) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump({"seed_sha256": _sha(seed), "refresh_token": refresh_token,
                       "rotated_at": int(time.time())}, f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, self.path)
        dfd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


def _sha(s: str) -> str:
    return hashlib.sha256(s.encode()).hexdigest()


class RefreshTokenSource(_Cached):
    """The OAuth2 refresh-token grant against `token_url` (e.g. https://oauth2.googleapis.com/token)."""

    def __init__(self, token_url: str, client_id: str, client_secret: str | None, refresh_token: str,
                 store: RefreshTokenStore, scope: str | None = None, ca_file: str | None = None,
                 timeout: float = 30.0, clock: Callable[[], float] = time.time):
        super().__init__(clock)
        if not refresh_token:
            raise OAuthError("no refresh token configured")
        self.token_url, self.client_id, self.client_secret, self.scope = token_url, client_id, client_secret, scope
        self.seed, self.store, self.ca_file, self.timeout = refresh_token, store, ca_file, timeout

    def _fetch(self) -> AccessToken:
        import httpx

        fd = self.store._lock()  # across processes: read, spend and replace the refresh token as one step
        try:
            current = self.store.load(self.seed)
            form = {"grant_type": "refresh_token", "refresh_token": current, "client_id": self.client_id}
            if self.client_secret:
                form["client_secret"] = self.client_secret
            if self.scope:
                form["scope"] = self.scope
            try:
                r = httpx.post(self.token_url, data=form, timeout=self.timeout,
                               verify=ssl.create_default_context(cafile=self.ca_file) if self.ca_file else True)
            except httpx.HTTPError as e:
                raise OAuthError(f"cannot reach the token endpoint {self.token_url}: {type(e).__name__}: {e}") from None
            try:
                body = r.json()
            except ValueError:
                body = {}
            if r.status_code != 200 or "access_token" not in body:
                code = body.get("error") if isinstance(body, dict) else None
                desc = body.get("error_description", "") if isinstance(body, dict) else ""
                raise OAuthError(f"token endpoint answered {r.status_code}: {code or 'no access token'}"
                                 + (f": {desc}" if desc else ""), code=code)
            new_rt = body.get("refresh_token")
            if new_rt and new_rt != current:
                self.store.save(self.seed, new_rt)  # before the access token is used: never lose a rotation
                log.info("the refresh token was rotated; the new one is stored in %s", self.store.path)
            return AccessToken(body["access_token"], self._clock() + float(body.get("expires_in", 3600)))
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
