"""Tests on a real 3-master Redis Cluster: the fixture that starts it, and ``redis_url``.

The cluster (tools/local_cluster.py, AOF everysec) is started once for the session, on free
ports, the first time a test here needs it. ``redis_url`` is overridden for every test in
this folder, so the fixtures built on it (``settings``, ``r``, ``app``, ``client``,
``runner``, ``make_symbol``, ``make_account``) all run on its ``redis+cluster://`` URL.
"""

from __future__ import annotations

import pytest

from tools.local_cluster import LocalCluster, free_ports


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory):
    """A real 3-master Redis Cluster for the session."""
    cluster = LocalCluster(tmp_path_factory.mktemp("cluster"), free_ports(3))
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def redis_url(redis_cluster) -> str:
    """The cluster's URL, every master emptied before the test."""
    redis_cluster.flushall()
    return redis_cluster.url
