"""A throttled Cosmos DB (429) costs a request path a bounded number of retries, never the SDK's default
of 9 retries over up to 30 s, and fails with an error that says what happened; a publish keeps the
longer budget and rides out a throttled stretch (issue 15, serving under stress). The proxy answers
as Cosmos does (429, substatus 3200, x-ms-retry-after-ms), so the SDK's own retry policy runs."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from feature_store.online.base import OnlineStoreError
from feature_store.online.specs import READ_THROTTLE_BUDGET, CosmosStoreSpec
from scripts import devservices
from tests.fakes.throttling_proxy import ThrottlingProxy

pytestmark = pytest.mark.slow  # the Cosmos DB protocol server
TABLE = "fs.throttled"
ROW = {"id": 1, "feature_ts": datetime(2025, 3, 2, tzinfo=UTC), "spend": 2.5}


@pytest.fixture
def proxy(cosmos_server):
    with ThrottlingProxy(cosmos_server.url) as proxy:
        yield proxy


@pytest.fixture
def spec(proxy, cosmos_database) -> CosmosStoreSpec:
    return CosmosStoreSpec(proxy.url, devservices.COSMOS_EMULATOR_KEY, database=cosmos_database,
                           enable_endpoint_discovery=False, use_env_proxies=False)  # fmt: skip


@pytest.fixture
def published(spec) -> None:
    with spec.open() as writer:
        writer.write_batch(TABLE, ["id"], [ROW])


def test_a_read_throttled_throughout_gives_up_after_the_read_budget_and_says_why(spec, proxy, published):
    retries, _ = READ_THROTTLE_BUDGET
    for store_spec, attempts in ((spec.for_reading(), 1 + retries), (spec, 1 + 9)):  # 9: the SDK's default
        with store_spec.open() as store:
            store.read_table(TABLE, [1])  # the table's expiry setting is cached: one id per read from here
            proxy.throttle(10_000)
            with pytest.raises(OnlineStoreError, match=r"throttled the read \(429, request rate is large\)"):
                store.read_table(TABLE, [1])
            assert proxy.document_requests == proxy.throttled == attempts
            proxy.throttle(0)


def test_a_brief_throttle_within_the_budget_is_retried_and_the_read_answers(spec, proxy, published):
    with spec.for_reading().open() as reader:
        proxy.throttle(READ_THROTTLE_BUDGET[0])
        assert reader.read_table(TABLE, [1]).rows[0]["spend"] == 2.5
    assert proxy.throttled == READ_THROTTLE_BUDGET[0] and proxy.document_requests == proxy.throttled + 1


def test_a_publish_rides_out_a_longer_throttle(spec, proxy):
    with spec.open() as writer:
        proxy.throttle(6)  # beyond a reader's budget, within the SDK's default a writer keeps
        assert writer.write_batch(TABLE, ["id"], [{**ROW, "id": 2}]).written == 1
        assert proxy.throttled == 6
        proxy.throttle(0)
        assert writer.read_table(TABLE, [2]).rows[0]["spend"] == 2.5


def test_the_budget_is_the_stores_to_choose_and_must_allow_a_retry(spec, proxy):
    with pytest.raises(ValueError, match="throttle_retries must be >= 1"):
        CosmosStoreSpec(spec.endpoint, spec.key, database=spec.database, enable_endpoint_discovery=False,
                        throttle_retries=0).open()  # fmt: skip
