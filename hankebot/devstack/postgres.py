"""A throwaway PostgreSQL cluster on 127.0.0.1 for tests, the demo and benchmarks.

    with PostgresServer(Path("/tmp/hb-pg")) as pg:
        engine = sqlalchemy.create_engine(pg.url)          # .../hankebot_test
        other = pg.create_database("scratch")              # a second, independent database

Runs the Debian server binaries (/usr/lib/postgresql/<ver>/bin). As root the cluster runs as the
`postgres` OS user; as any other user it runs as that user. Durability is switched off for speed.
"""

from __future__ import annotations

import atexit
import os
import pwd
import re
import subprocess
import time
from pathlib import Path

import psycopg
from psycopg import sql

from hankebot.devstack._process import (
    ManagedServer,
    LOOPBACK,
    DevstackError,
    free_ports,
    prepare_traversable_dir,
    render_template,
    tail,
)

DEFAULT_DATABASE = "hankebot_test"
SUPERUSER = "postgres"
_PG_ROOT = Path("/usr/lib/postgresql")
_DB_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class PostgresError(DevstackError):
    """The PostgreSQL cluster could not be created, started or stopped."""


def find_pg_bin() -> Path | None:
    """The newest installed server bin dir, e.g. /usr/lib/postgresql/15/bin (None when absent)."""
    candidates = []
    if _PG_ROOT.is_dir():
        for d in _PG_ROOT.iterdir():
            if d.name.isdigit() and (d / "bin" / "initdb").exists():
                candidates.append((int(d.name), d / "bin"))
    return max(candidates)[1] if candidates else None


class PostgresServer(ManagedServer):
    """initdb + pg_ctl a private cluster listening on 127.0.0.1:`port` (0 = a free port), trust auth."""

    def __init__(self, base_dir: Path, port: int = 0) -> None:
        self.base_dir = Path(base_dir).absolute()
        self.host = LOOPBACK
        self._requested_port = port
        self.port = port or free_ports(1)[0]
        #: Seconds taken by the last steps, e.g. {"initdb": 0.9, "start": 0.2, "stop": 0.1}.
        self.timings: dict[str, float] = {}
        self._bin: Path | None = None
        self._started = False

    @property
    def data_dir(self) -> Path:
        return self.base_dir / "data"

    @property
    def socket_dir(self) -> Path:
        return self.base_dir / "sock"

    @property
    def log_file(self) -> Path:
        return self.base_dir / "postgres.log"

    @property
    def url(self) -> str:
        """SQLAlchemy URL (psycopg 3) of the default database `hankebot_test`."""
        return self.url_for(DEFAULT_DATABASE)

    def url_for(self, database: str) -> str:
        """SQLAlchemy URL (psycopg 3) of `database` on this server."""
        return f"postgresql+psycopg://{SUPERUSER}@{self.host}:{self.port}/{database}"

    def dsn_for(self, database: str = DEFAULT_DATABASE) -> str:
        """libpq connection string (for psycopg.connect) of `database`."""
        return f"host={self.host} port={self.port} user={SUPERUSER} dbname={database}"

    # ---- lifecycle ---------------------------------------------------------------------------
    def start(self, timeout: float = 30.0) -> PostgresServer:
        """Create the cluster if needed, start it, wait until ready, create `hankebot_test`."""
        self._bin = find_pg_bin()
        if self._bin is None:
            raise PostgresError(
                f"PostgreSQL server binaries not found under {_PG_ROOT}: run scripts/install-system-deps.sh as root"
            )
        t0 = time.monotonic()
        try:
            prepare_traversable_dir(self.base_dir)
        except DevstackError as e:
            raise PostgresError(str(e)) from None
        self.socket_dir.mkdir(exist_ok=True)
        self._chown_to_runner(self.base_dir)
        self._chown_to_runner(self.socket_dir)
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb(timeout)
        self.timings["initdb"] = time.monotonic() - t0
        t1 = time.monotonic()
        self._started = True
        atexit.register(self._stop_quietly)
        # A port picked free may be taken by another process before the server binds it: retry with new ones.
        attempts = 3 if self._requested_port == 0 else 1
        for attempt in range(1, attempts + 1):
            conf = render_template("postgresql.conf.j2", {"port": self.port, "socket_dir": str(self.socket_dir)})
            (self.data_dir / "devstack.conf").write_text(conf)
            self._chown_to_runner(self.data_dir / "devstack.conf")
            log_start = self.log_file.stat().st_size if self.log_file.exists() else 0
            res = self._run(
                [str(self._bin / "pg_ctl"), "start", "-w", "-t", str(int(timeout)), "-D", str(self.data_dir),
                 "-l", str(self.log_file)],
                timeout + 5,
            )
            if res.returncode == 0:
                break
            log = self.log_file.read_bytes()[log_start:].decode(errors="replace") if self.log_file.exists() else ""
            if attempt < attempts and "already in use" in log:
                self.port = free_ports(1)[0]
                continue
            self._stop_quietly()
            raise PostgresError(
                f"pg_ctl start failed (exit {res.returncode}): {res.stdout.strip()}\n"
                f"--- {self.log_file}:\n{tail(self.log_file)}"
            )
        self.timings["pg_ctl_start"] = time.monotonic() - t1
        if not self.database_exists(DEFAULT_DATABASE):
            self.create_database(DEFAULT_DATABASE)
        self.timings["start"] = time.monotonic() - t0
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the cluster (fast shutdown: open sessions are ended), bounded by `timeout`."""
        t0 = time.monotonic()
        if self._bin is not None and (self.data_dir / "postmaster.pid").exists():
            res = self._run(
                [str(self._bin / "pg_ctl"), "stop", "-w", "-m", "fast", "-t", str(int(timeout)),
                 "-D", str(self.data_dir)],
                timeout + 5,
            )
            if res.returncode != 0 and (self.data_dir / "postmaster.pid").exists():
                self._run([str(self._bin / "pg_ctl"), "stop", "-m", "immediate", "-D", str(self.data_dir)], 10)
        self._started = False
        atexit.unregister(self._stop_quietly)
        self.timings["stop"] = time.monotonic() - t0

    # ---- databases ---------------------------------------------------------------------------
    def create_database(self, name: str) -> str:
        """Create an empty database (lowercase identifier) and return its SQLAlchemy URL."""
        _check_db_name(name)
        with self._admin() as conn:
            # FILE_COPY is much faster than the default WAL_LOG copy with fsync off.
            conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0 STRATEGY FILE_COPY").format(
                sql.Identifier(name)))
        return self.url_for(name)

    def drop_database(self, name: str) -> None:
        """Drop a database, ending its open sessions first (no error when it does not exist)."""
        _check_db_name(name)
        with self._admin() as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    def database_exists(self, name: str) -> bool:
        with self._admin() as conn:
            row = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        return row is not None

    # ---- internals ---------------------------------------------------------------------------
    def _admin(self) -> psycopg.Connection:
        return psycopg.connect(self.dsn_for("postgres"), autocommit=True, connect_timeout=10)

    def _initdb(self, timeout: float) -> None:
        assert self._bin is not None
        res = self._run(
            [str(self._bin / "initdb"), "-D", str(self.data_dir), "-U", SUPERUSER, "--auth=trust",
             "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync", "--no-instructions"],
            timeout,
        )
        if res.returncode != 0:
            raise PostgresError(f"initdb failed (exit {res.returncode}):\n{res.stdout.strip()}")
        with (self.data_dir / "postgresql.conf").open("a") as f:
            f.write("\ninclude_if_exists = 'devstack.conf'\n")

    def _runner(self) -> pwd.struct_passwd | None:
        """The OS user that runs PostgreSQL: `postgres` when we are root (it refuses root), else None."""
        if os.geteuid() != 0:
            return None
        try:
            return pwd.getpwnam("postgres")
        except KeyError:
            raise PostgresError("running as root but there is no 'postgres' OS user") from None

    def _chown_to_runner(self, path: Path) -> None:
        runner = self._runner()
        if runner is not None:
            os.chown(path, runner.pw_uid, runner.pw_gid)

    def _run(self, cmd: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
        runner = self._runner()
        kwargs: dict[str, object] = {}
        if runner is not None:
            kwargs = {"user": runner.pw_uid, "group": runner.pw_gid, "extra_groups": []}
        env = dict(os.environ, LC_ALL="C.UTF-8")
        if runner is not None:
            env.update(HOME=runner.pw_dir, USER=runner.pw_name, LOGNAME=runner.pw_name)
        # pg_ctl's server keeps inherited pipes open; write output to a file, not a pipe.
        out_file = self.base_dir / "ctl.out"
        with out_file.open("w") as out:
            res = subprocess.run(
                cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, text=True,
                timeout=timeout, env=env, cwd=str(self.base_dir), **kwargs,  # type: ignore[arg-type]
            )
        return subprocess.CompletedProcess(cmd, res.returncode, out_file.read_text(errors="replace"), "")

    def _stop_quietly(self) -> None:
        try:
            self.stop(timeout=10)
        except Exception:  # noqa: BLE001 - best effort at interpreter exit / failed start
            pass

    def __repr__(self) -> str:
        return f"PostgresServer(base_dir={str(self.base_dir)!r}, port={self.port})"


def _check_db_name(name: str) -> None:
    if not _DB_NAME.match(name):
        raise ValueError(f"database name must be a lowercase identifier: {name!r}")
