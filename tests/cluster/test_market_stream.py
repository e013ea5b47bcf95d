"""tests/test_market_stream.py again, unchanged, on the Redis Cluster (tests/cluster/)."""

import pytest

from tests.test_market_stream import *  # noqa: F403

pytestmark = pytest.mark.cluster
