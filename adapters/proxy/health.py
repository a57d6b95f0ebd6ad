"""R-117: the `GET /health` body."""

from __future__ import annotations

from typing import Any

__all__ = ["health_body"]


def health_body(*, draining: bool, host: str, port: int, uptime: float, active: int,
                total: int, pools: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """Status code and body: `ok`, `degraded` (some pool without an active
    model) or, during shutdown, 503 `draining`. `pools` maps each pool name to
    its `PoolStatus`."""
    counts = {name: {"active": int(p.active), "standby": int(p.standby),
                     "half_open": int(p.half_open)} for name, p in pools.items()}
    if draining:
        status = "draining"
    elif any(c["active"] == 0 for c in counts.values()):
        status = "degraded"
    else:
        status = "ok"
    body = {"status": status, "running": True, "host": host, "port": port,
            "uptime_seconds": round(uptime, 3), "active_connections": active,
            "total_requests": total, "pools": counts}
    return (503 if draining else 200), body
