"""tests/test_marketdata.py again, unchanged, on the Redis Cluster (tests/cluster/conftest.py)."""

import pytest

from tests.test_marketdata import *  # noqa: F403

pytestmark = pytest.mark.cluster
