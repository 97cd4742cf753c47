package version

// Version is the kapot-go release.
const Version = "0.1.0"

// Protocol is the version of the scheduler/executor wire protocol. A
// scheduler rejects executors of another protocol version.
const Protocol uint32 = 1
