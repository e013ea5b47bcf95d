"""tests/test_webhooks.py again, unchanged, on the Redis Cluster (tests/cluster/conftest.py)."""

import pytest

from tests.test_webhooks import *  # noqa: F403

pytestmark = pytest.mark.cluster
