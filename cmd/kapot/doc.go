// Command kapot is the kapot-go binary: executor, scheduler, local cluster
// and client commands.
package main
