"""Discovery connectors of the shell (SPEC R-100 .. R-103, API.md section 6):
`RegistrySync` (`modelmesh.registry-sync.v1`), `HealthMonitor`
(`modelmesh.health-monitor.v1`), their value types, and `Discovery`, which
runs both on their schedules for the clients and the proxy."""

from adapters.discovery.services import Discovery, HealthMonitor, RegistrySync
from adapters.discovery.types import HealthReport, ProbeResult, SyncResult, SyncStatus

__all__ = [
    "Discovery",
    "HealthMonitor",
    "HealthReport",
    "ProbeResult",
    "RegistrySync",
    "SyncResult",
    "SyncStatus",
]
