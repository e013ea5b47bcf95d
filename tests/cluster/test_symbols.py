"""tests/test_symbols.py again, unchanged, on the Redis Cluster (tests/cluster/conftest.py)."""

import pytest

from tests.test_symbols import *  # noqa: F403

pytestmark = pytest.mark.cluster
