"""The web's Redis client (engine/connection.py): pooled connections are checked when handed out.

engine/scripts.py sends and reads on pooled connections itself: these hold it to the pool's
own checks (a connection is never handed out with a reply in flight or after a close).
"""

from __future__ import annotations


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
