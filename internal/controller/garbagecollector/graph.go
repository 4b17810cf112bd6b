package garbagecollector

import (
	"cmp"
	"slices"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

// identity names one object: enough to GET it and to compare it with an
// ownerReference.
type identity struct {
	APIVersion string
	Kind       string
	Namespace  string
	Name       string
	UID        types.UID
}

// object is what the graph learns from one informer event: metadata only.
type object struct {
	ID       identity
	Resource schema.GroupVersionResource
	// ResourceVersion lets a decision taken on this view be applied
	// only if the object has not changed since.
	ResourceVersion string
	Deleting        bool // deletionTimestamp is set
	Finalizers      []string
	Owners          []metav1.OwnerReference
}

// node is one vertex of the ownership graph. A node that no informer has
// reported ("virtual") exists only because some dependent names it as an
// owner; it goes away when its last dependent does.
type node struct {
	id              identity
	resource        schema.GroupVersionResource
	resourceVersion string
	observed        bool
	// absent marks a virtual node whose object is known not to exist
	// (verified by a live GET, or seen deleted while it still had
	// dependents).
	absent     bool
	deleting   bool
	foreground bool // deleting and holding the foregroundDeletion finalizer
	orphan     bool // deleting and holding the orphan finalizer
	finalizers []string
	owners     []metav1.OwnerReference
	dependents map[types.UID]struct{}
}

// nodeView is a copy of a node that callers may keep without the lock.
type nodeView struct {
	ID              identity
	Resource        schema.GroupVersionResource
	ResourceVersion string
	Observed        bool
	Absent          bool
	Deleting        bool
	Foreground      bool
	Orphan          bool
	Finalizers      []string
	Owners          []metav1.OwnerReference
	Dependents      []types.UID
}

// graph is the in-memory owner→dependents graph keyed by UID. It does no
// I/O: every change returns the UIDs whose state may now need action, and
// the controller queues them.
type graph struct {
	mu    sync.RWMutex
	nodes map[types.UID]*node
}

func newGraph() *graph {
	return &graph{nodes: map[types.UID]*node{}}
}

// observe records an object as an informer reported it (added or updated).
func (g *graph) observe(o object) []types.UID {
	g.mu.Lock()
	defer g.mu.Unlock()
	var wake uidSet
	n := g.nodes[o.ID.UID]
	if n == nil {
		n = &node{}
		g.nodes[o.ID.UID] = n
	}
	wasForeground, wasObserved := n.foreground, n.observed
	oldOwners := n.owners

	n.id = o.ID
	n.resource = o.Resource
	n.resourceVersion = o.ResourceVersion
	n.finalizers = slices.Clone(o.Finalizers)
	n.observed = true
	n.absent = false
	n.deleting = o.Deleting
	n.foreground = o.Deleting && slices.Contains(o.Finalizers, metav1.FinalizerDeleteDependents)
	n.orphan = o.Deleting && slices.Contains(o.Finalizers, metav1.FinalizerOrphanDependents)
	n.owners = slices.Clone(o.Owners)

	if n.foreground || n.orphan {
		wake.add(n.id.UID)
	}
	if !wasObserved {
		// Dependents that named this object before it was seen may name
		// it wrongly (another namespace, kind or name): they need a live
		// check now that the graph knows what the UID really is.
		for d := range n.dependents {
			dn := g.nodes[d]
			if dn == nil {
				continue
			}
			if ref := findRef(dn.owners, n.id.UID); ref != nil && !refMatches(*ref, dn.id.Namespace, n) {
				wake.add(d)
			}
		}
	}
	if n.foreground && !wasForeground {
		// Foreground deletion starts: every dependent must go first.
		for d := range n.dependents {
			wake.add(d)
		}
	}

	// Owners this object no longer names lose it as a dependent; an owner
	// waiting for its dependents may now be free to go.
	for _, old := range oldOwners {
		cur := findRef(n.owners, old.UID)
		owner := g.nodes[old.UID]
		if owner == nil {
			continue
		}
		if cur == nil {
			delete(owner.dependents, n.id.UID)
			if owner.foreground {
				wake.add(owner.id.UID)
			}
			g.pruneLocked(owner)
			continue
		}
		if blocks(*cur) != blocks(old) && owner.foreground {
			wake.add(owner.id.UID)
		}
	}
	for _, ref := range n.owners {
		owner := g.nodes[ref.UID]
		if owner == nil {
			// Never seen: remember it and have it verified.
			owner = &node{id: identity{APIVersion: ref.APIVersion, Kind: ref.Kind, Namespace: n.id.Namespace, Name: ref.Name, UID: ref.UID}}
			g.nodes[ref.UID] = owner
			wake.add(ref.UID)
		}
		if owner.dependents == nil {
			owner.dependents = map[types.UID]struct{}{}
		}
		owner.dependents[n.id.UID] = struct{}{}
		switch {
		case owner.absent, owner.foreground:
			wake.add(n.id.UID)
		case !refMatches(ref, n.id.Namespace, owner):
			// The reference names another object than the one the graph
			// knows under that UID (other kind, name or namespace): only
			// a live check can tell what it points at.
			wake.add(n.id.UID)
		}
		if owner.foreground && findRef(oldOwners, ref.UID) == nil {
			wake.add(owner.id.UID)
		}
	}
	return wake.list()
}

// touch records a newer resourceVersion of an object whose graph-relevant
// metadata did not change.
func (g *graph) touch(uid types.UID, resourceVersion string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if n := g.nodes[uid]; n != nil && n.observed {
		n.resourceVersion = resourceVersion
	}
}

// forget records that an object was deleted.
func (g *graph) forget(uid types.UID) []types.UID {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := g.nodes[uid]
	if n == nil || !n.observed {
		return nil
	}
	var wake uidSet
	for _, ref := range n.owners {
		owner := g.nodes[ref.UID]
		if owner == nil {
			continue
		}
		delete(owner.dependents, uid)
		if owner.foreground {
			wake.add(owner.id.UID)
		}
		g.pruneLocked(owner)
	}
	n.owners, n.finalizers = nil, nil
	n.observed, n.absent = false, true
	n.deleting, n.foreground, n.orphan = false, false, false
	for d := range n.dependents {
		wake.add(d)
	}
	g.pruneLocked(n)
	return wake.list()
}

// markAbsent records that a virtual node's object does not exist, and
// returns its dependents, which may now be garbage.
func (g *graph) markAbsent(uid types.UID) []types.UID {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := g.nodes[uid]
	if n == nil || n.observed {
		return nil
	}
	n.absent = true
	var wake uidSet
	for d := range n.dependents {
		wake.add(d)
	}
	return wake.list()
}

// pruneLocked drops a virtual node nobody refers to any more.
func (g *graph) pruneLocked(n *node) {
	if !n.observed && len(n.dependents) == 0 {
		delete(g.nodes, n.id.UID)
	}
}

// get returns a copy of the node with uid.
func (g *graph) get(uid types.UID) (nodeView, bool) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	n := g.nodes[uid]
	if n == nil {
		return nodeView{}, false
	}
	return n.view(), true
}

func (n *node) view() nodeView {
	v := nodeView{
		ID: n.id, Resource: n.resource, ResourceVersion: n.resourceVersion,
		Observed: n.observed, Absent: n.absent,
		Deleting: n.deleting, Foreground: n.foreground, Orphan: n.orphan,
		Finalizers: slices.Clone(n.finalizers), Owners: slices.Clone(n.owners),
	}
	for d := range n.dependents {
		v.Dependents = append(v.Dependents, d)
	}
	slices.Sort(v.Dependents)
	return v
}

// dependents returns copies of the observed dependents of uid.
func (g *graph) dependents(uid types.UID) []nodeView {
	g.mu.RLock()
	defer g.mu.RUnlock()
	n := g.nodes[uid]
	if n == nil {
		return nil
	}
	var out []nodeView
	for d := range n.dependents {
		if dn := g.nodes[d]; dn != nil && dn.observed {
			out = append(out, dn.view())
		}
	}
	slices.SortFunc(out, func(a, b nodeView) int { return compareUID(a.ID.UID, b.ID.UID) })
	return out
}

// blockingDependents counts the dependents of uid whose reference to it
// sets blockOwnerDeletion: a foreground deletion waits for exactly these.
func (g *graph) blockingDependents(uid types.UID) []types.UID {
	g.mu.RLock()
	defer g.mu.RUnlock()
	n := g.nodes[uid]
	if n == nil {
		return nil
	}
	var out []types.UID
	for d := range n.dependents {
		dn := g.nodes[d]
		if dn == nil || !dn.observed {
			continue
		}
		if ref := findRef(dn.owners, uid); ref != nil && blocks(*ref) {
			out = append(out, d)
		}
	}
	slices.Sort(out)
	return out
}

// hasForegroundDependent reports whether a dependent of uid is itself
// being deleted in the foreground: deleting uid in the foreground too and
// keeping its blocking references could then close a waiting cycle.
func (g *graph) hasForegroundDependent(uid types.UID) bool {
	g.mu.RLock()
	defer g.mu.RUnlock()
	n := g.nodes[uid]
	if n == nil {
		return false
	}
	for d := range n.dependents {
		if dn := g.nodes[d]; dn != nil && dn.foreground {
			return true
		}
	}
	return false
}

// size reports how many nodes the graph holds (observed and virtual).
func (g *graph) size() int {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return len(g.nodes)
}

// refMatches reports whether ref, held by a dependent in namespace ns,
// names the object the graph knows as owner. Versions may differ: they
// are views of the same object.
func refMatches(ref metav1.OwnerReference, ns string, owner *node) bool {
	if ref.Kind != owner.id.Kind || ref.Name != owner.id.Name || apiGroup(ref.APIVersion) != apiGroup(owner.id.APIVersion) {
		return false
	}
	if !owner.observed {
		// A virtual node took its namespace from the first dependent
		// that named it.
		return owner.id.Namespace == ns
	}
	return owner.id.Namespace == "" || owner.id.Namespace == ns
}

func apiGroup(apiVersion string) string {
	gv, err := schema.ParseGroupVersion(apiVersion)
	if err != nil {
		return apiVersion
	}
	return gv.Group
}

func findRef(refs []metav1.OwnerReference, uid types.UID) *metav1.OwnerReference {
	for i := range refs {
		if refs[i].UID == uid {
			return &refs[i]
		}
	}
	return nil
}

func blocks(ref metav1.OwnerReference) bool {
	return ref.BlockOwnerDeletion != nil && *ref.BlockOwnerDeletion
}

func compareUID(a, b types.UID) int { return cmp.Compare(a, b) }

// uidSet collects UIDs once each, in insertion order.
type uidSet struct {
	seen  map[types.UID]struct{}
	order []types.UID
}

func (s *uidSet) add(u types.UID) {
	if s.seen == nil {
		s.seen = map[types.UID]struct{}{}
	}
	if _, ok := s.seen[u]; ok {
		return
	}
	s.seen[u] = struct{}{}
	s.order = append(s.order, u)
}

func (s *uidSet) list() []types.UID { return s.order }
