//go:build race

package e2e

// raceDetector is set when the tests run under -race (make test runs the
// in-process e2e tests so, see E2E_RACE in the Makefile): long randomized
// suites, run that way by hand, take a smaller slice.
const raceDetector = true
