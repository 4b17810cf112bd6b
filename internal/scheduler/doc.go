// Package scheduler owns pod placement: it picks a node for every pod that
// asks for the default scheduler and binds the pod there.
//
// The decision is pure: Snapshot holds the nodes and the pods assigned to
// them (kept up to date incrementally, never rebuilt per pod) and
// Algorithm.Schedule maps (snapshot, pod) to a node or to a FitError whose
// message has Kubernetes' wording ("0/3 nodes are available: 3 Insufficient
// cpu."). Scheduler is the thin loop around it: informers feed the
// snapshot, pods wait in a queue, bindings go through the pods/binding
// subresource, and failures become a PodScheduled=False condition and a
// FailedScheduling event. Only internal/node (the composition root) and
// tests import this package.
package scheduler
