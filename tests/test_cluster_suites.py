"""The core behaviour suites again, unchanged, with REDIS_URL naming a 3-master Redis Cluster.

The orders, batch, market-data and CLI tests are collected here a second time; the only
difference is the ``redis_url`` fixture below, which every other fixture (``settings``, ``r``,
``app``, ``client``, ``runner``) builds on: the real Flask app and the CLI then run on a
``redis+cluster://`` URL. Their symbols (BTC-USD, ETH-USD) live on different nodes.
"""

from __future__ import annotations

import pytest

from tests.test_api_batch import *  # noqa: F403
from tests.test_api_market import *  # noqa: F403
from tests.test_api_orders import *  # noqa: F403
from tests.test_cli import *  # noqa: F403

pytestmark = pytest.mark.cluster


@pytest.fixture
def redis_url(redis_cluster) -> str:
    """The cluster's URL, every master emptied before the test."""
    redis_cluster.flushall()
    return redis_cluster.url
