// Command etcdmember runs one member of an etcd cluster (etcd's own server,
// embedded) for the end-to-end tests of scheduler high availability: the
// tests start three as processes and kill them as a user's would die.
package main
