// Package client submits plans to a kapot scheduler, waits for them and
// fetches their results from the executors over Arrow Flight.
package client
