"""A local OAuth2 authorization server for tests: the stand-in for Microsoft Entra ID / Google's token endpoint
and the token introspection endpoint Dovecot's oauth2 passdb asks (RFC 7662, `introspection_mode = post`).

- HTTPS (self-signed, SAN IP:127.0.0.1; `ca_file` to trust it), what MSAL and the refresh-token client talk to:
  `/{tenant}/v2.0/.well-known/openid-configuration`, `/{tenant}/oauth2/v2.0/token` (client_credentials with a
  secret or a certificate's signed client assertion), and `/token` (refresh_token grant; every refresh rotates
  the refresh token and the spent one stops working, as Google and Entra may do).
- HTTP `/introspect` on loopback for Dovecot: `{"active": true, "username": ...}` for a live token, else
  `{"active": false}` (expired, revoked, unknown, or an app token without a role or mailbox permission).

Access tokens are JWTs (HS256 with the stand-in's own key) carrying Entra-like claims (aud, tid, appid, roles).
"""
from __future__ import annotations

import json
import secrets
import ssl
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import jwt

from hankebot.devstack._process import LOOPBACK

M365_AUDIENCE = "https://outlook.office365.com"


@dataclass
class AppRegistration:
    """An Entra app registration: its secret or certificate, the application permissions an admin consented to
    (roles), and the mailboxes Exchange lets its service principal open (Add-MailboxPermission)."""

    client_id: str
    tenant: str
    secret: str | None = None
    certificate_pem: bytes | None = None
    roles: list[str] = field(default_factory=lambda: ["IMAP.AccessAsApp", "SMTP.SendAsApp"])
    mailboxes: list[str] = field(default_factory=list)


@dataclass
class _Issued:
    subject: str  # the mailbox the token is for ("" for an app token without mailbox permission)
    expires_at: float
    roles: list[str]
    revoked: bool = False


class OAuthStandIn:
    def __init__(self, base_dir: Path, access_lifetime: float = 3600.0):
        self.base_dir = Path(base_dir)
        self.access_lifetime = access_lifetime
        self.apps: dict[str, AppRegistration] = {}
        self._key = secrets.token_hex(32)
        self._tokens: dict[str, _Issued] = {}  # jti -> issued token
        self._refresh: dict[str, tuple[str, str]] = {}  # live refresh token -> (client_id, user)
        self._clients: dict[str, str | None] = {}  # refresh-grant client_id -> secret
        self.lock = threading.Lock()
        self.grants: list[tuple[str, str]] = []  # (grant_type, client_id) per token issued
        self.introspections = 0
        self._servers: list[ThreadingHTTPServer] = []

    # ---- set-up ------------------------------------------------------------------------------
    @property
    def ca_file(self) -> str:
        return str(self.base_dir / "oauth-cert.pem")

    @property
    def https_url(self) -> str:
        return f"https://{LOOPBACK}:{self._servers[0].server_address[1]}"

    @property
    def introspection_url(self) -> str:
        return f"http://{LOOPBACK}:{self._servers[1].server_address[1]}/introspect"

    @property
    def token_url(self) -> str:
        return self.https_url + "/token"

    def register_app(self, app: AppRegistration) -> AppRegistration:
        self.apps[app.client_id] = app
        return app

    def register_client(self, client_id: str, secret: str | None) -> None:
        self._clients[client_id] = secret

    def grant_refresh_token(self, client_id: str, user: str) -> str:
        """A refresh token as a user's consent would give (what the admin puts into the secrets)."""
        rt = "rt-" + secrets.token_urlsafe(24)
        with self.lock:
            self._refresh[rt] = (client_id, user.lower())
        return rt

    def revoke_refresh_tokens(self, user: str) -> None:
        with self.lock:
            for rt in [k for k, v in self._refresh.items() if v[1] == user.lower()]:
                del self._refresh[rt]

    def issue(self, user: str, lifetime: float | None = None, roles: list[str] | None = None) -> str:
        """An access token for `user` (as a delegated grant would give)."""
        return self._mint(user.lower(), "test-client", roles or [], lifetime)

    def revoke(self, token: str) -> None:
        """Revoke one access token (introspection says inactive from now on)."""
        jti = jwt.decode(token, options={"verify_signature": False}).get("jti")
        with self.lock:
            if jti in self._tokens:
                self._tokens[jti].revoked = True

    def revoke_all(self) -> None:
        with self.lock:
            for t in self._tokens.values():
                t.revoked = True

    # ---- lifecycle ---------------------------------------------------------------------------
    def start(self) -> "OAuthStandIn":
        self.base_dir.mkdir(parents=True, exist_ok=True)
        _self_signed(self.base_dir / "oauth-cert.pem", self.base_dir / "oauth-key.pem")
        handler = type("Handler", (_Handler,), {"standin": self})
        https = ThreadingHTTPServer((LOOPBACK, 0), handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.base_dir / "oauth-cert.pem", self.base_dir / "oauth-key.pem")
        https.socket = ctx.wrap_socket(https.socket, server_side=True)
        http = ThreadingHTTPServer((LOOPBACK, 0), handler)
        for srv in (https, http):
            srv.daemon_threads = True
            threading.Thread(target=srv.serve_forever, name="oauth-standin", daemon=True).start()
            self._servers.append(srv)
        return self

    def stop(self) -> None:
        for srv in self._servers:
            srv.shutdown()
            srv.server_close()
        self._servers.clear()

    def __enter__(self) -> "OAuthStandIn":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # ---- internals ---------------------------------------------------------------------------
    def _mint(self, subject: str, client_id: str, roles: list[str], lifetime: float | None, tenant: str = "") -> str:
        now = time.time()
        life = self.access_lifetime if lifetime is None else lifetime
        jti = uuid.uuid4().hex
        claims = {"aud": M365_AUDIENCE, "iss": f"https://sts.example.test/{tenant}/", "tid": tenant,
                  "appid": client_id, "roles": roles, "iat": int(now), "exp": int(now + life), "jti": jti}
        if subject:
            claims["upn"] = subject
        with self.lock:
            self._tokens[jti] = _Issued(subject, now + life, roles)
        return jwt.encode(claims, self._key, algorithm="HS256")

    def introspect(self, token: str) -> dict:
        with self.lock:
            self.introspections += 1
        try:
            claims = jwt.decode(token, self._key, algorithms=["HS256"], options={"verify_exp": False,
                                                                                "verify_aud": False})
        except jwt.PyJWTError:
            return {"active": False}
        with self.lock:
            t = self._tokens.get(claims.get("jti"))
        if t is None or t.revoked or t.expires_at <= time.time() or not t.subject:
            return {"active": False}
        app = self.apps.get(claims.get("appid"))
        if app is not None and not t.roles:  # app-only without consented permissions: Exchange refuses
            return {"active": False}
        return {"active": True, "username": t.subject, "exp": int(t.expires_at), "client_id": claims.get("appid")}

    def client_credentials(self, tenant: str, form: dict) -> tuple[int, dict]:
        cid = form.get("client_id", "")
        app = self.apps.get(cid)
        if app is None or app.tenant != tenant:
            return 400, {"error": "unauthorized_client",
                         "error_description": f"AADSTS700016: Application with identifier '{cid}' was not found "
                                              f"in the directory '{tenant}'."}
        if form.get("scope") != M365_AUDIENCE + "/.default":
            return 400, {"error": "invalid_scope", "error_description": "AADSTS1002012: The provided value for scope "
                                                                        f"{form.get('scope')} is not valid."}
        if not self._client_authenticated(app, form):
            return 401, {"error": "invalid_client",
                         "error_description": "AADSTS7000215: Invalid client secret provided."}
        subject = app.mailboxes[0] if len(app.mailboxes) == 1 else ""
        token = self._mint(subject, cid, list(app.roles), None, tenant)
        with self.lock:
            self.grants.append(("client_credentials", cid))
        return 200, {"token_type": "Bearer", "expires_in": int(self.access_lifetime), "ext_expires_in": int(self.access_lifetime),
                     "access_token": token}

    def _client_authenticated(self, app: AppRegistration, form: dict) -> bool:
        if "client_assertion" in form:
            if not app.certificate_pem:
                return False
            from cryptography import x509

            pub = x509.load_pem_x509_certificate(app.certificate_pem).public_key()
            try:
                claims = jwt.decode(form["client_assertion"], pub, algorithms=["RS256", "PS256"],
                                    options={"verify_aud": False})
            except jwt.PyJWTError:
                return False
            return claims.get("sub") == app.client_id and claims.get("iss") == app.client_id
        return app.secret is not None and form.get("client_secret") == app.secret

    def refresh(self, form: dict) -> tuple[int, dict]:
        cid = form.get("client_id", "")
        if cid not in self._clients or (self._clients[cid] and form.get("client_secret") != self._clients[cid]):
            return 401, {"error": "invalid_client", "error_description": "The OAuth client was not found."}
        with self.lock:
            owner = self._refresh.pop(form.get("refresh_token", ""), None)
        if owner is None or owner[0] != cid:
            return 400, {"error": "invalid_grant", "error_description": "Token has been expired or revoked."}
        new_rt = self.grant_refresh_token(cid, owner[1])
        token = self._mint(owner[1], cid, [], None)
        with self.lock:
            self.grants.append(("refresh_token", cid))
        return 200, {"access_token": token, "expires_in": int(self.access_lifetime), "token_type": "Bearer",
                     "refresh_token": new_rt, "scope": "https://mail.google.com/"}


class _Handler(BaseHTTPRequestHandler):
    standin: OAuthStandIn

    def log_message(self, *args) -> None:
        pass

    def _send(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _form(self) -> dict:
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n).decode("utf-8", "replace")
        return {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}

    def do_GET(self) -> None:
        parts = [p for p in urlparse(self.path).path.split("/") if p]
        if len(parts) == 4 and parts[1:] == ["v2.0", ".well-known", "openid-configuration"]:
            base, tenant = self.standin.https_url, parts[0]
            return self._send(200, {
                "issuer": f"{base}/{tenant}/v2.0",
                "token_endpoint": f"{base}/{tenant}/oauth2/v2.0/token",
                "authorization_endpoint": f"{base}/{tenant}/oauth2/v2.0/authorize",
                "device_authorization_endpoint": f"{base}/{tenant}/oauth2/v2.0/devicecode",
            })
        self._send(404, {"error": "not_found"})

    def do_POST(self) -> None:
        path = urlparse(self.path).path
        form = self._form()
        parts = [p for p in path.split("/") if p]
        if path == "/introspect":
            return self._send(200, self.standin.introspect(form.get("token", "")))
        if path == "/token" and form.get("grant_type") == "refresh_token":
            return self._send(*self.standin.refresh(form))
        if len(parts) == 4 and parts[1:] == ["oauth2", "v2.0", "token"] and form.get("grant_type") == "client_credentials":
            return self._send(*self.standin.client_credentials(parts[0], form))
        self._send(400, {"error": "unsupported_grant_type"})


def _self_signed(cert: Path, key: Path) -> None:
    if cert.exists() and key.exists():
        return
    write_self_signed(cert, key, "127.0.0.1")


def write_self_signed(cert: Path, key: Path, cn: str) -> bytes:
    """A self-signed RSA certificate (SAN IP:127.0.0.1, DNS:localhost); the key in `key` (0600). Returns the
    combined PEM (key + certificate), the form an app registration's certificate credential is kept in."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    k = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = datetime.datetime.now(datetime.timezone.utc)
    c = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(k.public_key())
         .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
         .not_valid_after(now + datetime.timedelta(days=365))
         .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                                     x509.DNSName("localhost")]), critical=False)
         .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
         .sign(k, hashes.SHA256()))
    kp = k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    cp = c.public_bytes(serialization.Encoding.PEM)
    key.write_bytes(kp)
    key.chmod(0o600)
    cert.write_bytes(cp)
    return kp + cp
