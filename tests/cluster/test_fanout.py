"""tests/test_fanout.py again, unchanged, on the Redis Cluster (tests/cluster/conftest.py)."""

import pytest

from tests.test_fanout import *  # noqa: F403

pytestmark = pytest.mark.cluster
