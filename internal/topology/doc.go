// Package topology discovers the machine's NUMA nodes and CPUs, assigns
// task slots to dedicated cores, and pins the calling thread to them.
package topology
