// Package kernel is how the engine runs array kernels: Arrow's compute
// functions through a registry of the engine's own whose kernels turn a
// panic into an error (Context), and the gathers (Take, TakeRows) that
// every operator selecting rows by index uses instead of Arrow's Take.
package kernel
