"""A service's delivery target from its spec: the one factory the delivery and the query
door use, so both see the same bucket, root and grants."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from functions.data_services.adapters.storage_target import StorageDeliveryTarget
from functions.data_services.domain import TargetSpec
from functions.data_services.ports import FolderAccess
from shared.ports.blobs import BlobStore


@dataclass
class StorageTargets:
    sources: BlobStore  # the anonymized images, read as the function itself
    platform: BlobStore  # the platform's delivery bucket, as the function itself
    # A buyer's bucket is written as the delivery service account (the one the buyer
    # grants): built at the first buyer target, since only deliveries to a buyer need it.
    buyers: Callable[[], BlobStore]
    folders: FolderAccess
    public_url: Callable[[], str]
    service_account: str = ""
    _buyer_store: BlobStore | None = field(default=None, init=False, repr=False)

    def __call__(self, spec: TargetSpec) -> StorageDeliveryTarget:
        dest = self.platform
        if spec.buyer_bucket:
            if self._buyer_store is None:
                self._buyer_store = self.buyers()
            dest = self._buyer_store
        return StorageDeliveryTarget(
            spec=spec,
            sources=self.sources,
            dest=dest,
            folders=self.folders,
            public_url=self.public_url(),
            service_account=self.service_account,
        )
