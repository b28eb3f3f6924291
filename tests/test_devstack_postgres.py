"""Real throwaway PostgreSQL on loopback (hankebot.devstack.postgres) through SQLAlchemy + psycopg 3."""

from __future__ import annotations

import shutil
import socket
import uuid

import pytest
import sqlalchemy as sa

from hankebot.devstack.postgres import PostgresServer
from tests.conftest import short_tmp_dir

pytestmark = pytest.mark.postgres


def _engine(url: str) -> sa.Engine:
    return sa.create_engine(url, poolclass=sa.pool.NullPool)


def test_create_insert_select(pg_url: str) -> None:
    assert pg_url.startswith("postgresql+psycopg://postgres@127.0.0.1:")
    eng = _engine(pg_url)
    with eng.begin() as conn:
        conn.execute(sa.text("CREATE TABLE bid (id serial PRIMARY KEY, bidder text NOT NULL, total numeric(12,2))"))
        conn.execute(sa.text("INSERT INTO bid (bidder, total) VALUES (:b, :t)"),
                     [{"b": "Õppekeskus OÜ", "t": "1234.50"}, {"b": "Jüri Mägi", "t": "999.99"}])
    with eng.connect() as conn:
        rows = conn.execute(sa.text("SELECT bidder, total FROM bid ORDER BY total")).all()
        encoding = conn.execute(sa.text("SHOW server_encoding")).scalar()
    assert [(r.bidder, str(r.total)) for r in rows] == [("Jüri Mägi", "999.99"), ("Õppekeskus OÜ", "1234.50")]
    assert encoding == "UTF8"


def test_fresh_databases_are_independent(pg_server: PostgresServer, pg_url: str) -> None:
    name = f"t_other_{uuid.uuid4().hex[:8]}"
    other_url = pg_server.create_database(name)
    try:
        assert other_url != pg_url and other_url == pg_server.url_for(name)
        with _engine(pg_url).begin() as conn:
            conn.execute(sa.text("CREATE TABLE only_here (x int)"))
            conn.execute(sa.text("INSERT INTO only_here VALUES (1)"))
        with _engine(other_url).connect() as conn:
            assert not sa.inspect(conn).has_table("only_here")
        with _engine(pg_url).connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM only_here")).scalar() == 1
    finally:
        pg_server.drop_database(name)
    assert not pg_server.database_exists(name)


def test_each_test_gets_an_empty_database(pg_url: str) -> None:
    # runs after test_create_insert_select in the same session: its table must not be here
    with _engine(pg_url).connect() as conn:
        assert sa.inspect(conn).get_table_names() == []


def test_default_database_exists(pg_server: PostgresServer) -> None:
    assert pg_server.database_exists("hankebot_test")
    with _engine(pg_server.url).connect() as conn:
        assert conn.execute(sa.text("SELECT current_database()")).scalar() == "hankebot_test"
        # listens on loopback only
        assert conn.execute(sa.text("SHOW listen_addresses")).scalar() == "127.0.0.1"


def test_bad_database_name_is_rejected(pg_server: PostgresServer) -> None:
    with pytest.raises(ValueError):
        pg_server.create_database('x"; DROP DATABASE hankebot_test; --')


def test_own_server_survives_a_taken_port_and_restarts_with_data() -> None:
    base = short_tmp_dir("hbt-pg-")  # traversable by the postgres OS user (pytest's tmp dirs are not)
    server = PostgresServer(base / "c")
    blocker = socket.socket()
    blocker.bind((server.host, server.port))
    blocker.listen()
    taken = server.port
    try:
        server.start()
        assert server.port != taken
        with _engine(server.url).begin() as conn:
            conn.execute(sa.text("CREATE TABLE kept (x int)"))
            conn.execute(sa.text("INSERT INTO kept VALUES (42)"))
        server.stop()
        server.start()  # the cluster is reused, not re-created
        with _engine(server.url).connect() as conn:
            assert conn.execute(sa.text("SELECT x FROM kept")).scalar() == 42
    finally:
        blocker.close()
        server.stop()
        shutil.rmtree(base, ignore_errors=True)
