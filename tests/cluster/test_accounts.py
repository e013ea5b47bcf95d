"""tests/test_accounts.py again, unchanged, on the Redis Cluster (tests/cluster/conftest.py)."""

import pytest

from tests.test_accounts import *  # noqa: F403

pytestmark = pytest.mark.cluster
