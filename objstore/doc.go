// Package objstore opens the data files that scans read, wherever they live:
// local paths and file:// URLs, s3:// objects on any S3-compatible endpoint
// (through the AWS SDK for Go v2: signing, retries and the usual credential
// chain), and http(s):// URLs. Every object is read by byte range through
// io.ReaderAt, so a Parquet scan fetches only its footer and the column
// chunks it needs.
//
// A Registry maps a location's scheme (and, for S3, its bucket) to a store.
// Session properties of a job (kapot.s3.*) may override the S3 settings for
// that job's reads and writes; an endpoint a session chooses never gets the
// node's credentials, may not reach local addresses (without
// AllowLocalURLs) and fails with one uniform error (endpoint.go). With data
// roots, local paths are resolved component by component, symlinks
// followed, before anything is opened or created (path.go).
package objstore
