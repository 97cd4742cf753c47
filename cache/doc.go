// Package cache is the executor's local-disk read cache for object-store
// data (the seed's data_cache_policy "local-disk-file").
//
// Granularity: objects are cached in fixed-size pages (PageSize, 1 MiB)
// keyed by the object's location, its version (ETag, or size and mtime) and
// the page's index. Pages rather than whole objects because scans read
// ranges (a Parquet footer, a few column chunks) of objects that may be far
// larger than the cache; 1 MiB keeps the waste of a small read (a footer)
// low while a column chunk of tens of MiB is still a few dozen pages, whose
// missing runs are fetched with one ranged request each (coalescing).
//
// Eviction is least-recently-used by page, by bytes: the cache never holds
// more than its capacity. Each page is one file <dir>/<xx>/<key>-<page>,
// written to a temporary name, fsynced and renamed, with a CRC-32C trailer:
// a crash never leaves a half-written page under a real name, and a page
// whose checksum does not match is dropped and fetched again. At start the
// index is rebuilt from the directory (recency from modification times, which
// hits refresh), and leftover temporary files are removed.
//
// Concurrent reads of the same missing page make one fetch (single flight);
// a changed object has a new version and so new keys: stale pages are never
// served, and age out by LRU.
package cache
