// Package s3test runs a real S3-compatible server (Versity S3 Gateway,
// `versitygw`, on a POSIX directory) on loopback for tests, with a counting
// proxy in front of it so tests can assert on the requests that reached the
// store.
//
// The binary is found as $KAPOT_VERSITYGW, on PATH, or in $(go env
// GOPATH)/bin; .ci/run installs it. Without it tests skip, except under CI
// (CI set), where a missing server is a failure.
package s3test
