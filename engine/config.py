"""One Settings object read from the environment; every default lives here."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from typing import Any, Mapping


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be a whole number, got {raw!r}") from None
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    return value


@dataclass(frozen=True)
class Settings:
    """Configuration shared by the web, worker and scheduler processes."""

    redis_url: str = "redis://localhost:6379/0"
    rq_redis_url: str = ""  # empty: same as redis_url
    port: int = 8000
    order_max_age: int = 86400  # seconds; 0 turns it off
    order_rate_limit: int = 100  # orders/s per account, burst 2x; 0 turns it off
    order_retention: int = 604800  # seconds a final order stays readable
    match_limit: int = 10000  # resting orders one placement may meet
    # Client timeouts: a dead Redis must give a fast 503, never a hang.
    redis_socket_timeout: float = 1.5
    redis_connect_timeout: float = 1.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def rq_url(self) -> str:
        return self.rq_redis_url or self.redis_url

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Settings":
        env = os.environ if env is None else env
        d = cls()
        return cls(
            redis_url=env.get("REDIS_URL") or d.redis_url,
            rq_redis_url=env.get("RQ_REDIS_URL") or "",
            port=_int(env, "PORT", d.port),
            order_max_age=_int(env, "ORDER_MAX_AGE", d.order_max_age),
            order_rate_limit=_int(env, "ORDER_RATE_LIMIT", d.order_rate_limit),
            order_retention=_int(env, "ORDER_RETENTION", d.order_retention),
            match_limit=max(1, _int(env, "MATCH_LIMIT", d.match_limit)),
        )

    def with_overrides(self, overrides: Mapping[str, Any] | None) -> "Settings":
        """Settings with lower-case field overrides (used by create_app(test_config))."""
        if not overrides:
            return self
        names = {f.name for f in fields(self)}
        known = {k.lower(): v for k, v in overrides.items() if k.lower() in names}
        return replace(self, **known)
