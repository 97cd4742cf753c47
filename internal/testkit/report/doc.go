// Package report formats the figures of the long correctness suites
// (sqllogictest, the differential fuzzer) and writes them into a section of
// a Markdown document.
package report
