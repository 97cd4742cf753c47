// Package flight serves an executor's shuffle partitions over Arrow Flight
// and fetches them from peers.
//
// A ticket (see EncodeTicket) names ids only: job, stage, map partition and
// output partition. The server derives the file path under its own work dir
// and rejects anything else with InvalidArgument. DoGet streams Arrow record
// batches any stock Flight client can read; the ActionFetchPartition action
// streams the stored IPC bytes without decoding them, which is what peers use.
package flight
