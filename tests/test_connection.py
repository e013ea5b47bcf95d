"""The web's Redis client (engine/connection.py): pooled connections are checked when handed out."""

from __future__ import annotations

from engine.connection import ReadinessParser


def test_the_pool_checks_connections_with_the_cheap_readiness_parser(r):
    conn = r.connection_pool.get_connection()
    try:
        assert isinstance(conn._parser, ReadinessParser)
        assert conn.can_read() is False  # idle and open: nothing to read
    finally:
        r.connection_pool.release(conn)


def test_a_connection_left_with_an_unread_reply_is_not_handed_out_as_it_is(r):
    conn = r.connection_pool.get_connection()
    conn.send_command("ECHO", "stale")  # a reply nobody reads
    r.connection_pool.release(conn)
    assert r.echo("fresh") == "fresh"


def test_a_connection_the_server_closed_is_replaced(r):
    r.ping()
    killed = r.client_kill_filter(_type="normal", skipme=False)
    assert killed >= 1
    assert r.echo("after") == "after"
