// Package wiretest builds the wire (plan.proto) expression nodes that the
// engine's tests bind and run: short constructors for columns, literals,
// operators and calls, shared by the tests of engine and its packages.
package wiretest
