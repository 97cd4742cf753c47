package engine

// sortedRuns finds the groups of one integer-like key without a hash
// table while the keys come in a few ascending runs (see groupInts):
// input sorted or clustered by its key (TPC-H's lineitem by l_orderkey,
// read row group by row group in file order), the partial states of such
// input, which a partial aggregate emits in the order its groups came,
// and a final aggregate's input of one such run from each map task.
//
// The groups of the runs before the current one are kept sorted by key,
// and a cursor walks them as the current run's keys ascend: a key there
// is that group, a key equal to the current run's last new one is that
// group, and any other key is a new group of the run. A key smaller than
// the one before starts the next run, after the run's new groups are
// merged into the sorted ones. Past maxSortedRuns runs the caller moves
// the groups into a hash table (each).
type sortedRuns struct {
	keys []int64 // groups of the earlier runs, ascending by key
	ids  []int32 // their group ids
	at   int     // keys[:at] are smaller than the current run's last key
	run  []int64 // the current run's new groups, ascending by key
	rids []int32 // their group ids
	last int64   // the current run's last key
	some bool    // a key came since reset
	runs int     // runs so far, the current one included
}

// maxSortedRuns bounds the runs a sortedRuns takes: each run past the
// first merges every group so far once.
const maxSortedRuns = 8

// reset empties s for a new table.
func (s *sortedRuns) reset() {
	s.keys, s.ids, s.run, s.rids = s.keys[:0], s.ids[:0], s.run[:0], s.rids[:0]
	s.at, s.some, s.runs = 0, false, 1
}

// group returns key v's group: an earlier one, or next when isNew. ok is
// false when v would start a run past maxSortedRuns (s is unchanged).
func (s *sortedRuns) group(v int64, next int32) (id int32, isNew, ok bool) {
	if s.some && v < s.last {
		if s.runs == maxSortedRuns {
			return 0, false, false
		}
		s.merge()
	}
	s.some, s.last = true, v
	for s.at < len(s.keys) && s.keys[s.at] < v {
		s.at++
	}
	if s.at < len(s.keys) && s.keys[s.at] == v {
		return s.ids[s.at], false, true
	}
	if n := len(s.run); n > 0 && s.run[n-1] == v {
		return s.rids[n-1], false, true
	}
	s.run, s.rids = append(s.run, v), append(s.rids, next)
	return next, true, true
}

// merge folds the current run's new groups into the sorted ones (no key
// is in both) and starts the next run.
func (s *sortedRuns) merge() {
	if len(s.run) > 0 {
		keys := make([]int64, 0, len(s.keys)+len(s.run))
		ids := make([]int32, 0, len(s.keys)+len(s.run))
		i, j := 0, 0
		for i < len(s.keys) || j < len(s.run) {
			if j == len(s.run) || i < len(s.keys) && s.keys[i] < s.run[j] {
				keys, ids = append(keys, s.keys[i]), append(ids, s.ids[i])
				i++
			} else {
				keys, ids = append(keys, s.run[j]), append(ids, s.rids[j])
				j++
			}
		}
		s.keys, s.ids = keys, ids
		s.run, s.rids = s.run[:0], s.rids[:0]
	}
	s.at, s.some = 0, false
	s.runs++
}

// each calls f with the key and id of every group.
func (s *sortedRuns) each(f func(k int64, id int32)) {
	for i, k := range s.keys {
		f(k, s.ids[i])
	}
	for i, k := range s.run {
		f(k, s.rids[i])
	}
}

// len is the number of groups.
func (s *sortedRuns) len() int { return len(s.keys) + len(s.run) }
