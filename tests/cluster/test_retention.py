"""tests/test_retention.py again, unchanged, on the Redis Cluster (tests/cluster/conftest.py)."""

import pytest

from tests.test_retention import *  # noqa: F403

pytestmark = pytest.mark.cluster
