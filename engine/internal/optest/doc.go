// Package optest has the plan node the engine's operator tests and
// benchmarks feed operators from: Source, one partition of batches built
// in memory.
package optest
