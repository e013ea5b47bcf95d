"""tests/test_api_batch.py again, unchanged, on the Redis Cluster (tests/cluster/conftest.py)."""

import pytest

from tests.test_api_batch import *  # noqa: F403

pytestmark = pytest.mark.cluster
