"""The web's Redis client (engine/connection.py): pooled connections are checked when handed out.

engine/scripts.py sends and reads on pooled connections itself: these hold it to the pool's
own checks (a connection is not handed out with an unread reply that has arrived, or after a
close). A reply still on its way when the connection is handed out is beyond what the pool can
see: scripts.py disconnects a connection whose call failed for that (tests/test_scripts.py).
"""

from __future__ import annotations


def test_a_connection_left_with_an_unread_reply_is_not_handed_out_as_it_is(r):
    conn = r.connection_pool.get_connection()
    conn.send_command("ECHO", "stale")  # a reply nobody reads
    # Wait for it to arrive: the pool's check sees only what has (without this the test
    # raced the reply and failed about one run in five).
    assert conn.can_read(timeout=1)
    r.connection_pool.release(conn)
    assert r.echo("fresh") == "fresh"


def test_a_connection_the_server_closed_is_replaced(r):
    r.ping()
    killed = r.client_kill_filter(_type="normal", skipme=False)
    assert killed >= 1
    assert r.echo("after") == "after"
