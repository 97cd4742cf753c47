package main

import (
	"os"
	"testing"
)

// envRunMain makes the test binary run as kapot: the bench's local cluster
// starts its scheduler and executors from os.Executable(), which in a
// test is this binary.
const envRunMain = "KAPOT_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(envRunMain) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}
