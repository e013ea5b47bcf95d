"""tests/test_api_orders.py again, unchanged, on the Redis Cluster (tests/cluster/conftest.py)."""

import pytest

from tests.test_api_orders import *  # noqa: F403

pytestmark = pytest.mark.cluster
