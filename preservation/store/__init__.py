"""Evidence stores behind one interface, chosen by the store URL's scheme.

``file://PATH`` is the embedded default; ``s3://BUCKET`` talks to S3 (MinIO, SeaweedFS,
AWS) through the ``minio`` SDK. Callers take a ``Store`` and never branch on the backend.
"""

from __future__ import annotations

from preservation.store.base import ObjectInfo, Store, blob_key, is_blob_key
from preservation.store.factory import open_store

__all__ = ["ObjectInfo", "Store", "blob_key", "is_blob_key", "open_store"]
