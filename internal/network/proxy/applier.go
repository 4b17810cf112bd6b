package proxy

import (
	"context"
	"sync"
)

// Applier programs a whole Ruleset, replacing whatever the proxy's table
// held before. Implementations must leave everything outside the table
// alone and apply all-or-nothing.
type Applier interface {
	Apply(ctx context.Context, rs Ruleset) error
}

// FakeApplier records applied rulesets for tests.
type FakeApplier struct {
	mu      sync.Mutex
	applied []Ruleset
	// Err, when set, is returned by Apply (and nothing is recorded).
	Err error
	// Notify, when set, receives a value after each recorded Apply.
	Notify chan struct{}
}

// Apply records rs.
func (f *FakeApplier) Apply(_ context.Context, rs Ruleset) error {
	f.mu.Lock()
	if f.Err != nil {
		err := f.Err
		f.mu.Unlock()
		return err
	}
	f.applied = append(f.applied, rs)
	notify := f.Notify
	f.mu.Unlock()
	if notify != nil {
		select {
		case notify <- struct{}{}:
		default:
		}
	}
	return nil
}

// Applied returns every recorded ruleset, oldest first.
func (f *FakeApplier) Applied() []Ruleset {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Ruleset(nil), f.applied...)
}

// Last returns the latest recorded ruleset and whether there is one.
func (f *FakeApplier) Last() (Ruleset, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.applied) == 0 {
		return Ruleset{}, false
	}
	return f.applied[len(f.applied)-1], true
}
