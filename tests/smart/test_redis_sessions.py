"""Server-side sessions in Redis (several gunicorn workers share them)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import redis
import requests

from cds_service.smart.sessions import Sessions
from cds_service.smart_testing import TestEhr

from .conftest import CANDIDATE, LiveApp, launch

REDIS_URL = "redis://127.0.0.1:6379/15"


@pytest.fixture
def redis_db() -> redis.Redis:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.RedisError:
        pytest.skip("no Redis on 127.0.0.1:6379")
    return client


def test_launch_with_redis_sessions_keeps_tokens_encrypted(
    make_live_app: Callable[..., LiveApp], ehr: TestEhr, redis_db: redis.Redis
) -> None:
    ehr.token_lifetime_s = 90
    live = make_live_app(SMART_SESSION_STORE=REDIS_URL)
    page = launch(live, ehr, CANDIDATE)
    assert page.status_code == 200 and "elig-candidate" in page.text
    cookie = page.history[-1].cookies.get("igg4_smart")  # set by the callback
    assert cookie
    key = Sessions._store_key(cookie.partition(".")[0])
    blob = redis_db.get(key)
    assert isinstance(blob, bytes)
    assert not any(t.encode() in blob for t in ehr.tokens)
    assert b"fx01" not in blob  # encrypted: not even the patient id is readable
    assert 0 < redis_db.pttl(key) <= 90_000  # gone when the token expires
    # a second app process (another worker) serves the same browser session
    other = make_live_app(SMART_SESSION_STORE=REDIS_URL)
    session = requests.Session()
    for r in [*page.history, page]:
        session.cookies.update(r.cookies)
    moved = session.get(page.url.replace(live.url, other.url))
    assert moved.status_code == 200 and "elig-candidate" in moved.text
    redis_db.delete(key)
