//go:build race

package e2e

// raceDetector is set when the tests run under -race (make test runs e2e
// twice, once with it): long randomized suites run a smaller slice there.
const raceDetector = true
