"""tests/test_replay.py again, unchanged, on the Redis Cluster (tests/cluster/conftest.py)."""

import pytest

from tests.test_replay import *  # noqa: F403

pytestmark = pytest.mark.cluster
