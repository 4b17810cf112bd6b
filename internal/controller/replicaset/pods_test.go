package replicaset

import (
	"context"
	"errors"
	"log/slog"
	"reflect"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
)

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

type podOpt func(*corev1.Pod)

func mkPod(name string, opts ...podOpt) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID(name), CreationTimestamp: metav1.NewTime(t0)}}
	for _, o := range opts {
		o(p)
	}
	return p
}

func onNode(n string) podOpt { return func(p *corev1.Pod) { p.Spec.NodeName = n } }
func phase(ph corev1.PodPhase) podOpt {
	return func(p *corev1.Pod) { p.Status.Phase = ph }
}
func readySince(ts time.Time) podOpt {
	return func(p *corev1.Pod) {
		p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(ts)})
	}
}
func restarts(n int32) podOpt {
	return func(p *corev1.Pod) {
		p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, corev1.ContainerStatus{RestartCount: n})
	}
}
func created(ts time.Time) podOpt {
	return func(p *corev1.Pod) { p.CreationTimestamp = metav1.NewTime(ts) }
}
func cost(c string) podOpt {
	return func(p *corev1.Pod) { p.Annotations = map[string]string{PodDeletionCostAnnotation: c} }
}
func withLabels(kv ...string) podOpt {
	return func(p *corev1.Pod) {
		p.Labels = map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			p.Labels[kv[i]] = kv[i+1]
		}
	}
}

func TestRankForDeletion(t *testing.T) {
	running := func(n string) podOpt { return func(p *corev1.Pod) { onNode(n)(p); phase(corev1.PodRunning)(p) } }
	tests := []struct {
		name string
		pods []*corev1.Pod
		want []string
	}{
		{"unassigned before assigned", []*corev1.Pod{mkPod("a", running("n1")), mkPod("b")}, []string{"b", "a"}},
		{"pending before unknown before running", []*corev1.Pod{
			mkPod("run", onNode("n1"), phase(corev1.PodRunning)),
			mkPod("unk", onNode("n2"), phase(corev1.PodUnknown)),
			mkPod("pend", onNode("n3"), phase(corev1.PodPending)),
		}, []string{"pend", "unk", "run"}},
		{"not ready before ready", []*corev1.Pod{mkPod("r", running("n1"), readySince(t0)), mkPod("nr", running("n2"))}, []string{"nr", "r"}},
		{"lower deletion cost first", []*corev1.Pod{mkPod("hi", running("n1"), cost("10")), mkPod("lo", running("n2"), cost("-5"))}, []string{"lo", "hi"}},
		{"doubled-up node first", []*corev1.Pod{mkPod("alone", running("n1")), mkPod("d1", running("n2")), mkPod("d2", running("n2"))}, []string{"d1", "d2", "alone"}},
		{"ready for less time first", []*corev1.Pod{mkPod("old", running("n1"), readySince(t0)), mkPod("young", running("n2"), readySince(t0.Add(time.Minute)))}, []string{"young", "old"}},
		{"more restarts first", []*corev1.Pod{mkPod("calm", running("n1"), restarts(0)), mkPod("flappy", running("n2"), restarts(4))}, []string{"flappy", "calm"}},
		{"newer first", []*corev1.Pod{mkPod("older", running("n1")), mkPod("newer", running("n2"), created(t0.Add(time.Hour)))}, []string{"newer", "older"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, p := range RankForDeletion(tt.pods) {
				got = append(got, p.Name)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("order = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestSlowStartBatches(t *testing.T) {
	tests := []struct {
		n    int
		want []int
	}{
		{0, nil}, {1, []int{1}}, {3, []int{1, 2}}, {4, []int{1, 2, 1}}, {10, []int{1, 2, 4, 3}}, {15, []int{1, 2, 4, 8}},
	}
	for _, tt := range tests {
		if got := SlowStartBatches(tt.n, 1); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("SlowStartBatches(%d) = %v, want %v", tt.n, got, tt.want)
		}
	}
}

func TestDecideClaim(t *testing.T) {
	sel := labels.SelectorFromSet(labels.Set{"app": "web"})
	yes := true
	owned := func(uid string) podOpt {
		return func(p *corev1.Pod) {
			p.OwnerReferences = []metav1.OwnerReference{{UID: types.UID(uid), Controller: &yes, Name: "x", Kind: "ReplicaSet"}}
		}
	}
	deleting := func(p *corev1.Pod) { ts := metav1.NewTime(t0); p.DeletionTimestamp = &ts }
	tests := []struct {
		name          string
		pod           *corev1.Pod
		ownerDeleting bool
		want          ClaimAction
	}{
		{"ours and matching", mkPod("p", owned("me"), withLabels("app", "web")), false, Keep},
		{"ours, not matching", mkPod("p", owned("me"), withLabels("app", "db")), false, Release},
		{"ours, not matching, owner deleting", mkPod("p", owned("me"), withLabels("app", "db")), true, Ignore},
		{"someone else's", mkPod("p", owned("other"), withLabels("app", "web")), false, Ignore},
		{"matching orphan", mkPod("p", withLabels("app", "web")), false, Adopt},
		{"matching orphan, owner deleting", mkPod("p", withLabels("app", "web")), true, Ignore},
		{"deleting orphan", mkPod("p", withLabels("app", "web"), deleting), false, Ignore},
		{"non-matching orphan", mkPod("p", withLabels("app", "db")), false, Ignore},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := DecideClaim("me", tt.ownerDeleting, sel, tt.pod); got != tt.want {
				t.Errorf("DecideClaim = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestCountPods(t *testing.T) {
	now := t0.Add(time.Minute)
	pods := []*corev1.Pod{
		mkPod("ready-long", withLabels("app", "web", "tier", "front"), readySince(t0)),
		mkPod("ready-just-now", withLabels("app", "web", "tier", "front"), readySince(now.Add(-3*time.Second))),
		mkPod("not-ready", withLabels("app", "web")),
	}
	got, next := CountPods(pods, map[string]string{"app": "web", "tier": "front"}, 10, now)
	want := Counts{Replicas: 3, FullyLabeledReplicas: 2, ReadyReplicas: 2, AvailableReplicas: 1}
	if got != want || next != 7*time.Second {
		t.Errorf("CountPods = %+v, next %v; want %+v, next 7s", got, next, want)
	}
	got, next = CountPods(pods, map[string]string{"app": "web"}, 0, now)
	if got.AvailableReplicas != 2 || got.FullyLabeledReplicas != 3 || next != 0 {
		t.Errorf("minReadySeconds 0: %+v next %v", got, next)
	}
}

func TestExpectations(t *testing.T) {
	clk := clocktesting.NewFakeClock(t0)
	e := NewExpectations(clk)
	if !e.Satisfied("k") {
		t.Fatal("empty expectations should be satisfied")
	}
	e.ExpectCreations("k", 2)
	e.CreationObserved("k")
	if e.Satisfied("k") {
		t.Fatal("one creation still outstanding")
	}
	e.CreationObserved("k")
	if !e.Satisfied("k") {
		t.Fatal("all creations observed")
	}
	e.ExpectDeletions("k", []types.UID{"a", "b"})
	e.DeletionObserved("k", "a")
	e.DeletionObserved("k", "a")
	if e.Satisfied("k") {
		t.Fatal("a twice must not count for b")
	}
	clk.Step(expectationsTTL + time.Second)
	if !e.Satisfied("k") {
		t.Fatal("expired expectations must not block forever")
	}
}

func TestNextStatusKeepsFailureTransitionTime(t *testing.T) {
	earlier := metav1.NewTime(t0)
	cur := &appsv1.ReplicaSetStatus{Conditions: []appsv1.ReplicaSetCondition{{Type: ReplicaFailure, Status: corev1.ConditionTrue, Reason: "FailedCreate", Message: "quota", LastTransitionTime: earlier}}}
	next := NextStatus(cur, Status{Counts: Counts{Replicas: 1}, ObservedGeneration: 2, Failure: &Failure{"FailedCreate", "quota"}}, metav1.NewTime(t0.Add(time.Hour)))
	if len(next.Conditions) != 1 || !next.Conditions[0].LastTransitionTime.Equal(&earlier) || next.Replicas != 1 || next.ObservedGeneration != 2 {
		t.Errorf("next = %+v", next)
	}
	cleared := NextStatus(next, Status{}, metav1.NewTime(t0))
	if len(cleared.Conditions) != 0 {
		t.Errorf("failure not cleared: %+v", cleared.Conditions)
	}
}

// A create that fails (here: quota) stops the slow-start batches after
// the first pod and surfaces as the ReplicaFailure condition.
func TestCreateFailureSlowStartAndReplicaFailure(t *testing.T) {
	replicas := int32(20)
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", UID: "rs-uid", Generation: 1},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}}},
		},
	}
	client := fake.NewSimpleClientset(rs)
	var creates atomic.Int32
	client.PrependReactor("create", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		creates.Add(1)
		return true, nil, apierrors.NewForbidden(corev1.Resource("pods"), "", errors.New(`exceeded quota: compute, requested: pods=1, used: pods=0, limited: pods=0`))
	})
	f := informers.NewSharedInformerFactory(client, 0)
	c := New(client, f, clocktesting.NewFakeClock(t0), slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		t.Fatal("caches did not sync")
	}
	if err := c.reconcile(ctx, "default/web"); err == nil {
		t.Fatal("reconcile succeeded despite failing creates")
	}
	if n := creates.Load(); n != 1 {
		t.Errorf("create attempts = %d, want 1 (slow start stops after the first failing batch)", n)
	}
	got, err := client.AppsV1().ReplicaSets("default").Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Status.Conditions) != 1 || got.Status.Conditions[0].Type != ReplicaFailure || got.Status.Conditions[0].Reason != "FailedCreate" {
		t.Errorf("conditions = %+v, want ReplicaFailure/FailedCreate", got.Status.Conditions)
	}
	if !c.exp.Satisfied("default/web") {
		t.Error("failed creations must not leave expectations outstanding")
	}
}

// Claim candidates are the owner's pods and the orphans of its namespace,
// found through the controller index; adding the index twice is harmless.
func TestClaimCandidates(t *testing.T) {
	inf := informers.NewSharedInformerFactory(fake.NewSimpleClientset(), 0).Core().V1().Pods().Informer()
	for i := 0; i < 2; i++ {
		if err := AddControllerIndex(inf); err != nil {
			t.Fatalf("add index (%d): %v", i, err)
		}
	}
	owned := func(name, ns string, uid types.UID) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}}
		if uid != "" {
			p.OwnerReferences = []metav1.OwnerReference{{UID: uid, Controller: ptr.To(true), Name: "o", Kind: "ReplicaSet", APIVersion: "apps/v1"}}
		}
		return p
	}
	for _, p := range []*corev1.Pod{
		owned("a1", "ns", "a"), owned("a2", "ns", "a"), owned("b1", "ns", "b"),
		owned("orphan", "ns", ""), owned("other-ns-orphan", "other", ""), owned("a-elsewhere", "other", "a"),
	} {
		if err := inf.GetIndexer().Add(p); err != nil {
			t.Fatal(err)
		}
	}
	got, err := ClaimCandidates(inf.GetIndexer(), "ns", "a")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range got {
		names = append(names, p.Name)
	}
	sort.Strings(names)
	if want := []string{"a1", "a2", "orphan"}; !reflect.DeepEqual(names, want) {
		t.Fatalf("candidates %v, want %v", names, want)
	}
}
