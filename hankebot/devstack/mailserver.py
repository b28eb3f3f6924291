"""A real, private mail server on loopback: Dovecot (IMAP + LMTP) and Postfix (SMTP with AUTH).

Used by tests, the demo and benchmarks. Needs root and the Debian packages from
``scripts/install-system-deps.sh``. Several instances may run side by side (own ports and base dirs).

    with MailServer(Path("/tmp/hb-mail"), users={"tender@example.test": "tenderpass"}) as ms:
        ms.deliver("tender@example.test", raw_bytes)
        assert ms.mailbox_count("tender@example.test") == 1
"""

from __future__ import annotations

import atexit
import grp
import os
import pwd
import smtplib
import ssl
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path

from imap_tools import MailBoxUnencrypted

from hankebot.devstack._process import (
    ManagedServer,
    LOOPBACK,
    DevstackError,
    find_program,
    free_ports,
    prepare_traversable_dir,
    pid_alive,
    read_pid,
    render_template,
    sbin_env,
    tail,
    terminate_pids,
    wait_for_banner,
)

VMAIL_USER = "vmail"
DOMAIN = "example.test"
#: Longest base dir we accept: Dovecot/Postfix put unix sockets under it (sun_path is 108 bytes).
MAX_BASE_LEN = 60


class MailServerError(DevstackError):
    """Dovecot or Postfix could not be prepared, started or stopped."""


class MailServer(ManagedServer):
    """Private Dovecot + Postfix on 127.0.0.1, configured from the package templates.

    Port 0 picks a free loopback port. Users live in a Dovecot passwd-file ({PLAIN} scheme) that
    both IMAP and Postfix SMTP AUTH check. Mail to @example.test goes through Dovecot LMTP;
    unknown @example.test recipients are accepted by Postfix and bounced (DSN to the sender).
    """

    def __init__(
        self,
        base_dir: Path,
        imap_port: int = 0,
        smtp_port: int = 0,
        lmtp_port: int = 0,
        users: dict[str, str] | None = None,
        tls: bool = False,
        oauth2_introspection_url: str | None = None,
    ) -> None:
        """`oauth2_introspection_url`: also accept XOAUTH2/OAUTHBEARER logins (IMAP, and SMTP through Postfix's
        Dovecot SASL), each token checked at this RFC 7662 introspection endpoint (POST token=...), which must
        answer {"active": true, "username": "<the login name>"} for a valid one."""
        self.oauth2_introspection_url = oauth2_introspection_url
        self.base_dir = Path(base_dir).absolute()
        if len(str(self.base_dir)) > MAX_BASE_LEN:
            raise MailServerError(
                f"base_dir too long ({len(str(self.base_dir))} > {MAX_BASE_LEN} chars; unix sockets live "
                f"under it): {self.base_dir}"
            )
        self.imap_host = LOOPBACK
        self._requested_ports = (imap_port, smtp_port, lmtp_port)
        self._pick_ports()
        self.tls = tls
        self.users: dict[str, str] = dict(users or {})
        for email, password in self.users.items():
            _check_user(email, password)
        #: Seconds taken by the last start/stop steps, e.g. {"dovecot_start": 0.1, "postfix_start": 0.9}.
        self.timings: dict[str, float] = {}
        self._started = False
        self._users_mtime = 0

    # ---- paths -------------------------------------------------------------------------------
    @property
    def smtp_host(self) -> str:
        """Host of the Postfix SMTP listener (always 127.0.0.1)."""
        return LOOPBACK

    @property
    def cert_path(self) -> Path:
        """The self-signed certificate (exists only with tls=True); SAN IP:127.0.0.1, DNS:localhost."""
        return self.base_dir / "tls" / "cert.pem"

    @property
    def dovecot_log(self) -> Path:
        return self.base_dir / "dovecot" / "dovecot.log"

    @property
    def postfix_log(self) -> Path:
        return self.base_dir / "postfix" / "postfix.log"

    @property
    def _dovecot_conf(self) -> Path:
        return self.base_dir / "dovecot" / "dovecot.conf"

    @property
    def _postfix_etc(self) -> Path:
        return self.base_dir / "postfix" / "etc"

    @property
    def _users_dir(self) -> Path:
        return self.base_dir / "dovecot" / "users"

    @property
    def _dovecot_pidfile(self) -> Path:
        return self.base_dir / "dovecot" / "run" / "master.pid"

    @property
    def _postfix_pidfile(self) -> Path:
        return self.base_dir / "postfix" / "spool" / "pid" / "master.pid"

    @property
    def running(self) -> bool:
        """True while both master processes are alive."""
        return all(pid is not None and pid_alive(pid) for pid in (self._dovecot_pid(), self._postfix_pid()))

    # ---- lifecycle ---------------------------------------------------------------------------
    def start(self, timeout: float = 20.0) -> MailServer:
        """Write configs, start Dovecot then Postfix, and wait for the IMAP greeting and SMTP banner."""
        if os.geteuid() != 0:
            raise MailServerError("MailServer needs root (Dovecot/Postfix master processes, vmail user)")
        missing = [p for p in ("dovecot", "postfix", "openssl") if find_program(p) is None]
        if missing:
            raise MailServerError(f"missing programs {missing}: run scripts/install-system-deps.sh as root")
        t0 = time.monotonic()
        # A port picked free may be taken by another process before we bind it: then retry with new ones.
        attempts = 3 if 0 in self._requested_ports else 1
        for attempt in range(1, attempts + 1):
            self._prepare()
            self.timings["prepare"] = time.monotonic() - t0
            self._started = True
            atexit.register(self._stop_quietly)
            try:
                self._start_dovecot(timeout)
                self._start_postfix(timeout)
                break
            except MailServerError as exc:
                self._stop_quietly()
                if attempt == attempts or "in use" not in str(exc):
                    raise
                self._pick_ports()
            except BaseException:
                self._stop_quietly()
                raise
        self.timings["start"] = time.monotonic() - t0
        return self

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM both master processes in parallel and wait (bounded) until they have exited."""
        t0 = time.monotonic()
        pids = [p for p in (self._dovecot_pid(), self._postfix_pid()) if p is not None]
        terminate_pids(pids + self._dovecot_children(self._dovecot_pid()), timeout)
        self._started = False
        atexit.unregister(self._stop_quietly)
        self.timings["stop"] = time.monotonic() - t0

    def restart_imap(self, timeout: float = 20.0) -> None:
        """Stop and start Dovecot only (IMAP and LMTP drop their connections); Postfix keeps running."""
        t0 = time.monotonic()
        pid = self._dovecot_pid()
        # the master's children (imap sessions, auth, log, ...) outlive a SIGTERM of the master: end them too,
        # otherwise open IMAP sessions carry on and the processes leak
        terminate_pids(([pid] if pid is not None else []) + self._dovecot_children(pid), timeout)
        self.timings["dovecot_stop"] = time.monotonic() - t0
        self._start_dovecot(timeout)
        self.timings["restart_imap"] = time.monotonic() - t0

    # ---- users and mail ----------------------------------------------------------------------
    def add_user(self, email: str, password: str, timeout: float = 5.0) -> None:
        """Add (or change) a mailbox user. When running, returns once Dovecot sees the change."""
        self.add_users({email: password}, timeout)

    def add_users(self, users: dict[str, str], timeout: float = 5.0) -> None:
        """Add (or change) several mailbox users at once (about 15 ms per new user while running).

        Each user has its own passwd-file; Dovecot reads a file it has not seen before at once, but rechecks
        a known file at most once per second, so a changed password waits for the next second.
        """
        for email, password in users.items():
            _check_user(email, password)
        changed = [e for e, pw in users.items() if e in self.users and self.users[e] != pw]
        new = [e for e in users if e not in self.users]
        self.users.update(users)
        if not self._users_dir.exists():
            return  # not started yet: start() writes every user
        for email in users:
            self._write_user(email)
        if not self.running:
            return
        if changed:
            time.sleep(1.05 - (time.time() % 1.0))  # the next lookup is in a new second: it rereads the file
        deadline = time.monotonic() + timeout
        for email in new:
            while not self._dovecot_knows(email):  # normally true at the first check
                if time.monotonic() > deadline:
                    raise MailServerError(f"Dovecot did not pick up new user {email} within {timeout:.0f} s")
                time.sleep(0.05)

    def deliver(self, rcpt: str | Iterable[str], raw: bytes, mail_from: str = f"devstack@{DOMAIN}") -> None:
        """Drop a raw RFC 5322 message straight into mailboxes via Dovecot LMTP (fastest path).

        Raises smtplib.SMTPRecipientsRefused for unknown users (550 5.1.1).
        """
        rcpts = [rcpt] if isinstance(rcpt, str) else list(rcpt)
        refused: dict = {}
        with smtplib.LMTP(LOOPBACK, self.lmtp_port, timeout=15) as lmtp:
            # one recipient per transaction: LMTP answers DATA once per recipient, smtplib reads only one
            # reply, and the unread ones would be taken as the answer to the next command
            for r in rcpts:
                try:
                    lmtp.sendmail(mail_from, [r], raw)
                except smtplib.SMTPRecipientsRefused as e:
                    refused.update(e.recipients)
        if refused:
            raise smtplib.SMTPRecipientsRefused(refused)

    def queued(self) -> int:
        """Messages Postfix still holds (maildrop, incoming, active, deferred, hold), from `postqueue -j`."""
        res = subprocess.run([find_program("postqueue") or "postqueue", "-c", str(self._postfix_etc), "-j"],
                             capture_output=True, text=True, timeout=30)
        if res.returncode != 0:
            raise MailServerError(f"postqueue failed: {res.stderr.strip()}")
        return sum(1 for line in res.stdout.splitlines() if line.strip())

    def wait_queue_empty(self, timeout: float = 20.0) -> bool:
        """Wait until Postfix has delivered (or bounced) everything it accepted: the positive signal that
        no message is still on its way, before checking that a mailbox got nothing more."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.queued() == 0:
                return True
            time.sleep(0.1)
        return False

    def mailbox(self, user: str, password: str | None = None) -> MailBoxUnencrypted:
        """A logged-in imap-tools mailbox (plain IMAP); use as a context manager to log out."""
        pw = self.users[user] if password is None else password
        return MailBoxUnencrypted(self.imap_host, self.imap_port, timeout=15).login(user, pw)

    def mailbox_count(self, user: str, password: str | None = None, folder: str = "INBOX") -> int:
        """Number of messages in `folder` of `user` (password defaults to the one registered)."""
        with self.mailbox(user, password) as mb:
            return int(mb.folder.status(folder, ["MESSAGES"])["MESSAGES"])

    def ssl_context(self) -> ssl.SSLContext:
        """A client SSL context that trusts this server's self-signed certificate (tls=True only)."""
        if not self.cert_path.exists():
            raise MailServerError("no certificate: MailServer was not started with tls=True")
        return ssl.create_default_context(cafile=str(self.cert_path))

    # ---- internals ---------------------------------------------------------------------------
    def _pick_ports(self) -> None:
        """Fill in the ports requested as 0 with distinct free loopback ports."""
        picked = iter(free_ports(3))
        imap, smtp, lmtp = self._requested_ports
        self.imap_port = imap or next(picked)
        self.smtp_port = smtp or next(picked)
        self.lmtp_port = lmtp or next(picked)

    def _prepare(self) -> None:
        _ensure_vmail_user()
        vmail = pwd.getpwnam(VMAIL_USER)
        base = self.base_dir
        try:
            prepare_traversable_dir(base)
        except DevstackError as e:
            raise MailServerError(str(e)) from None
        for d in (base / "dovecot", base / "dovecot" / "state", self._postfix_etc,
                  base / "postfix" / "spool"):
            d.mkdir(parents=True, exist_ok=True)
            d.chmod(0o755)  # daemons drop privileges and must traverse
        mail = base / "dovecot" / "mail"
        mail.mkdir(exist_ok=True)
        os.chown(mail, vmail.pw_uid, vmail.pw_gid)
        mail.chmod(0o700)
        data = base / "postfix" / "data"
        data.mkdir(exist_ok=True)
        postfix_pw = pwd.getpwnam("postfix")
        os.chown(data, postfix_pw.pw_uid, postfix_pw.pw_gid)
        data.chmod(0o700)
        if self.tls and not self.cert_path.exists():
            self._make_cert()
        ctx = {
            "base": str(base),
            "instance": "hb-" + base.name,
            "tls": self.tls,
            "imap_port": self.imap_port,
            "smtp_port": self.smtp_port,
            "lmtp_port": self.lmtp_port,
            "domain": DOMAIN,
            "vmail_user": VMAIL_USER,
            "vmail_group": grp.getgrgid(vmail.pw_gid).gr_name,
            "oauth2_introspection_url": self.oauth2_introspection_url,
        }
        if self.oauth2_introspection_url:
            _write_config(base / "dovecot" / "oauth2.conf.ext", (
                f"introspection_mode = post\nintrospection_url = {self.oauth2_introspection_url}\n"
                "force_introspection = yes\nusername_attribute = username\n"
                "active_attribute = active\nactive_value = true\ntimeout_msecs = 5000\n"))
        _write_config(self._dovecot_conf, render_template("dovecot.conf.j2", ctx))
        _write_config(self._postfix_etc / "main.cf", render_template("postfix-main.cf.j2", ctx))
        _write_config(self._postfix_etc / "master.cf", render_template("postfix-master.cf.j2", ctx))
        self._users_dir.mkdir(exist_ok=True)
        self._users_dir.chmod(0o755)
        for email in self.users:
            self._write_user(email)

    def _write_user(self, email: str) -> None:
        """Atomically (re)write one user's passwd-file, readable by the dovecot auth process only."""
        path = self._users_dir / email.lower()
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(f"{email.lower()}:{{PLAIN}}{self.users[email]}::::::\n")  # auth_username_format=%Lu
        # a distinct mtime per write, so Dovecot's mtime/size check never misses a same-second change
        self._users_mtime = max(int(time.time()), self._users_mtime + 1)
        os.utime(tmp, (self._users_mtime, self._users_mtime))
        try:
            os.chown(tmp, 0, grp.getgrnam("dovecot").gr_gid)
            tmp.chmod(0o640)
        except KeyError:
            tmp.chmod(0o644)
        os.replace(tmp, path)

    def _make_cert(self) -> None:
        tls_dir = self.cert_path.parent
        tls_dir.mkdir(exist_ok=True)
        tls_dir.chmod(0o755)
        key = tls_dir / "key.pem"
        cmd = [
            find_program("openssl") or "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
            "-days", "3650", "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout", str(key), "-out", str(self.cert_path),
        ]
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        if res.returncode != 0:
            raise MailServerError(f"openssl failed: {res.stderr.strip()}")
        key.chmod(0o600)
        self.cert_path.chmod(0o644)

    def _start_dovecot(self, timeout: float) -> None:
        t0 = time.monotonic()
        code, out = _run_daemon_launcher(
            [find_program("dovecot") or "dovecot", "-c", str(self._dovecot_conf)],
            self.base_dir / "dovecot" / "launch.out", timeout,
        )
        if code != 0:
            raise MailServerError(
                f"dovecot failed to start (exit {code}): {out}\n"
                f"--- {self.dovecot_log}:\n{tail(self.dovecot_log)}"
            )
        remaining = max(1.0, timeout - (time.monotonic() - t0))
        if not wait_for_banner(self.imap_port, b"* OK", remaining):
            raise MailServerError(
                f"no IMAP greeting on {LOOPBACK}:{self.imap_port} within {timeout:.0f} s\n"
                f"--- {self.dovecot_log}:\n{tail(self.dovecot_log)}"
            )
        self.timings["dovecot_start"] = time.monotonic() - t0

    def _start_postfix(self, timeout: float) -> None:
        t0 = time.monotonic()
        code, out = _run_daemon_launcher(
            [find_program("postfix") or "postfix", "-c", str(self._postfix_etc), "start"],
            self.base_dir / "postfix" / "launch.out", timeout,
        )
        if code != 0:
            raise MailServerError(
                f"postfix failed to start (exit {code}): {out}\n"
                f"--- {self.postfix_log}:\n{tail(self.postfix_log)}"
            )
        remaining = max(1.0, timeout - (time.monotonic() - t0))
        if not wait_for_banner(self.smtp_port, b"220", remaining):
            raise MailServerError(
                f"no SMTP banner on {LOOPBACK}:{self.smtp_port} within {timeout:.0f} s\n"
                f"--- {self.postfix_log}:\n{tail(self.postfix_log)}"
            )
        self.timings["postfix_start"] = time.monotonic() - t0

    def _dovecot_children(self, master: int | None) -> list[int]:
        """Pids of the processes whose parent is this instance's Dovecot master (imap sessions, auth, log...).
        Matched by parent pid, not by title: two servers whose base dirs share a name share the title."""
        if master is None:
            return []
        pids = []
        for d in Path("/proc").iterdir():
            if not d.name.isdigit():
                continue
            try:
                stat = (d / "stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[-1].split()
            if len(fields) > 1 and fields[1] == str(master):
                pids.append(int(d.name))
        return pids

    def _dovecot_knows(self, email: str) -> bool:
        """True when Dovecot's userdb finds `email` (`doveadm user`, about 10 ms)."""
        res = subprocess.run(
            [find_program("doveadm") or "doveadm", "-c", str(self._dovecot_conf), "user", email],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=10,
        )
        return res.returncode == 0

    def _dovecot_pid(self) -> int | None:
        return read_pid(self._dovecot_pidfile)

    def _postfix_pid(self) -> int | None:
        return read_pid(self._postfix_pidfile)

    def _stop_quietly(self) -> None:
        try:
            self.stop(timeout=10)
        except Exception:  # noqa: BLE001 - best effort at interpreter exit / failed start
            pass

    def __repr__(self) -> str:
        return (
            f"MailServer(base_dir={str(self.base_dir)!r}, imap={self.imap_port}, smtp={self.smtp_port}, "
            f"lmtp={self.lmtp_port}, tls={self.tls}, users={len(self.users)})"
        )


def _check_user(email: str, password: str) -> None:
    """Reject values that would corrupt the passwd-file (':' separates fields, one user per line)."""
    for value in (email, password):
        if not value or any(c in value for c in ":\r\n\0"):
            raise ValueError(f"invalid mail user or password for passwd-file: {value!r}")
    if "@" not in email or "/" in email or email.startswith(".") or any(c.isspace() for c in email):
        raise ValueError(f"mail user must be a plain email address (it names a file): {email!r}")


def _ensure_vmail_user() -> None:
    """Create the system user that owns the mail store, unless it exists."""
    try:
        pwd.getpwnam(VMAIL_USER)
        return
    except KeyError:
        pass
    cmd = [
        find_program("useradd") or "useradd", "--system", "--user-group", "--no-create-home",
        "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", VMAIL_USER,
    ]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    try:
        pwd.getpwnam(VMAIL_USER)  # a concurrent creator may have won; that is fine
    except KeyError:
        raise MailServerError(f"could not create user {VMAIL_USER}: {res.stderr.strip()}") from None


def _write_config(path: Path, text: str) -> None:
    """Write a config file and date it 10 s back: the `postfix` command polls main.cf (300 ms steps,
    about 1.5 s in total) while the file looks freshly modified."""
    path.write_text(text)
    past = time.time() - 10
    os.utime(path, (past, past))


def _run_daemon_launcher(cmd: list[str], out_file: Path, timeout: float) -> tuple[int, str]:
    """Run a command that daemonizes; its output goes to a file, because the daemon may keep
    inherited pipes open (capture_output would then wait for EOF forever)."""
    with out_file.open("wb") as out:
        res = subprocess.run(
            cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, timeout=timeout, env=sbin_env()
        )
    return res.returncode, out_file.read_text(errors="replace").strip()
