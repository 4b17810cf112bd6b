package job

import (
	"slices"
	"strconv"
	"strings"
)

// indexSet is a set of completion indexes, kept in the compressed form
// Kubernetes uses in status.completedIndexes ("1,3-5,7").
type indexSet map[int]bool

// parseIndexes reads a completedIndexes string, dropping anything that is
// malformed or outside [0, completions): a job's completions can shrink
// (elastic indexed jobs) and a hand-edited status must not wedge it.
func parseIndexes(s string, completions int) indexSet {
	set := indexSet{}
	if s == "" {
		return set
	}
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		first, err := strconv.Atoi(lo)
		if err != nil {
			continue
		}
		last := first
		if isRange {
			if last, err = strconv.Atoi(hi); err != nil {
				continue
			}
		}
		for i := max(first, 0); i <= last && i < completions; i++ {
			set[i] = true
		}
	}
	return set
}

// String formats the set as Kubernetes does: ascending, comma-separated,
// with every run of consecutive indexes written as a range "a-b".
func (s indexSet) String() string {
	idx := make([]int, 0, len(s))
	for i := range s {
		idx = append(idx, i)
	}
	slices.Sort(idx)
	var b strings.Builder
	for i := 0; i < len(idx); {
		j := i
		for j+1 < len(idx) && idx[j+1] == idx[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(idx[i]))
		if j > i {
			b.WriteByte('-')
			b.WriteString(strconv.Itoa(idx[j]))
		}
		i = j + 1
	}
	return b.String()
}
