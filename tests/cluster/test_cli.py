"""tests/test_cli.py again, unchanged, on the Redis Cluster (tests/cluster/conftest.py)."""

import pytest

from tests.test_cli import *  # noqa: F403

pytestmark = pytest.mark.cluster
