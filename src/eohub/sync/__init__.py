"""Hub-to-hub mirroring: synchronisers that pull products from a remote hub's OData v1."""

from eohub.sync.model import SyncDefinition, Synchroniser, SyncMode, SyncStatus
from eohub.sync.service import SyncService
from eohub.sync.store import SqlSyncStore

__all__ = [
    "SqlSyncStore",
    "SyncDefinition",
    "SyncMode",
    "SyncService",
    "SyncStatus",
    "Synchroniser",
]
