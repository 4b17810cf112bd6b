package disruption

import (
	"errors"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

var now = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func ago(d time.Duration) metav1.Time { return metav1.NewTime(now.Add(-d)) }

func pod(name string, ready bool) *corev1.Pod {
	st := corev1.ConditionFalse
	if ready {
		st = corev1.ConditionTrue
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns"},
		Status: corev1.PodStatus{Phase: corev1.PodRunning,
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: st}}},
	}
}

func deleting(p *corev1.Pod) *corev1.Pod {
	ts := ago(time.Second)
	p.DeletionTimestamp = &ts
	return p
}

func readyPods(n int) []*corev1.Pod {
	out := make([]*corev1.Pod, n)
	for i := range out {
		out[i] = pod(fmt.Sprintf("p%d", i), true)
	}
	return out
}

func budget(minAvailable, maxUnavailable *intstr.IntOrString) *policyv1.PodDisruptionBudget {
	return &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: "b", Namespace: "ns", Generation: 3},
		Spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: minAvailable, MaxUnavailable: maxUnavailable,
			Selector: &metav1.LabelSelector{}},
	}
}

func num(n int) *intstr.IntOrString { v := intstr.FromInt32(int32(n)); return &v }
func pct(s string) *intstr.IntOrString {
	v := intstr.FromString(s)
	return &v
}

func TestComputeStatus(t *testing.T) {
	type want struct {
		expected, desired, healthy, allowed int32
		disrupted                           []string
		recheck                             time.Time
	}
	cases := []struct {
		name   string
		pdb    *policyv1.PodDisruptionBudget
		pods   []*corev1.Pod
		scale  int32
		want   want
		errors bool
	}{
		{name: "minAvailable 2 of 3 ready", pdb: budget(num(2), nil), pods: readyPods(3),
			want: want{expected: 3, desired: 2, healthy: 3, allowed: 1}},
		{name: "minAvailable 2 of 2 ready", pdb: budget(num(2), nil), pods: readyPods(2),
			want: want{expected: 2, desired: 2, healthy: 2, allowed: 0}},
		{name: "minAvailable above what exists allows nothing", pdb: budget(num(5), nil), pods: readyPods(3),
			want: want{expected: 3, desired: 5, healthy: 3, allowed: 0}},
		{name: "integer minAvailable ignores the controllers' scale", pdb: budget(num(1), nil), pods: readyPods(2), scale: 10,
			want: want{expected: 2, desired: 1, healthy: 2, allowed: 1}},
		{name: "unready and terminating pods are not healthy", pdb: budget(num(1), nil),
			pods: []*corev1.Pod{pod("a", true), pod("b", false), deleting(pod("c", true))},
			want: want{expected: 3, desired: 1, healthy: 1, allowed: 0}},
		{name: "minAvailable 50% of 3 rounds up to 2", pdb: budget(pct("50%"), nil), pods: readyPods(3), scale: 3,
			want: want{expected: 3, desired: 2, healthy: 3, allowed: 1}},
		{name: "minAvailable 34% of 3 rounds up to 2", pdb: budget(pct("34%"), nil), pods: readyPods(3), scale: 3,
			want: want{expected: 3, desired: 2, healthy: 3, allowed: 1}},
		{name: "percentage minAvailable counts the scale, not the pods", pdb: budget(pct("100%"), nil), pods: readyPods(3), scale: 4,
			want: want{expected: 4, desired: 4, healthy: 3, allowed: 0}},
		{name: "maxUnavailable 1 of scale 3", pdb: budget(nil, num(1)), pods: readyPods(3), scale: 3,
			want: want{expected: 3, desired: 2, healthy: 3, allowed: 1}},
		{name: "maxUnavailable 25% of 3 rounds up to 1", pdb: budget(nil, pct("25%")), pods: readyPods(3), scale: 3,
			want: want{expected: 3, desired: 2, healthy: 3, allowed: 1}},
		{name: "maxUnavailable 50% of 3 rounds up to 2", pdb: budget(nil, pct("50%")), pods: readyPods(3), scale: 3,
			want: want{expected: 3, desired: 1, healthy: 3, allowed: 2}},
		{name: "maxUnavailable above the scale desires nothing", pdb: budget(nil, num(5)), pods: readyPods(3), scale: 3,
			want: want{expected: 3, desired: 0, healthy: 3, allowed: 3}},
		{name: "maxUnavailable with missing pods", pdb: budget(nil, num(1)), pods: readyPods(2), scale: 3,
			want: want{expected: 3, desired: 2, healthy: 2, allowed: 0}},
		{name: "no pods expected allows nothing", pdb: budget(nil, pct("100%")), pods: nil, scale: 0,
			want: want{expected: 0, desired: 0, healthy: 0, allowed: 0}},
		{name: "minAvailable 0 with no pods allows nothing", pdb: budget(num(0), nil), pods: nil,
			want: want{expected: 0, desired: 0, healthy: 0, allowed: 0}},
		{name: "neither field set allows nothing", pdb: budget(nil, nil), pods: readyPods(2),
			want: want{expected: 0, desired: 0, healthy: 2, allowed: 0}},
		{name: "bad percentage", pdb: budget(nil, pct("half")), pods: readyPods(2), scale: 2, errors: true},
		{
			name: "a recent eviction keeps its pod out of the count until it expires",
			pdb: withDisrupted(budget(num(1), nil), map[string]metav1.Time{
				"p0": ago(30 * time.Second), "p1": ago(90 * time.Second)}),
			pods: readyPods(3),
			want: want{expected: 3, desired: 1, healthy: 1, allowed: 0, disrupted: []string{"p0", "p1"},
				recheck: now.Add(DeletionTimeout - 90*time.Second)},
		},
		{
			name: "entries expire after DeletionTimeout, or when the pod is gone or terminating",
			pdb: withDisrupted(budget(num(1), nil), map[string]metav1.Time{
				"p0": ago(DeletionTimeout), "gone": ago(time.Second), "p2": ago(time.Second)}),
			pods: []*corev1.Pod{pod("p0", true), pod("p1", true), deleting(pod("p2", true))},
			want: want{expected: 3, desired: 1, healthy: 2, allowed: 1},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st, recheck, err := ComputeStatus(tc.pdb, tc.pods, tc.scale, now)
			if tc.errors {
				if err == nil {
					t.Fatalf("want an error, got status %+v", st)
				}
				return
			}
			if err != nil {
				t.Fatalf("ComputeStatus: %v", err)
			}
			got := want{expected: st.ExpectedPods, desired: st.DesiredHealthy, healthy: st.CurrentHealthy,
				allowed: st.DisruptionsAllowed, recheck: recheck}
			for _, name := range []string{"p0", "p1", "p2", "gone"} {
				if _, ok := st.DisruptedPods[name]; ok {
					got.disrupted = append(got.disrupted, name)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
			if st.ObservedGeneration != tc.pdb.Generation {
				t.Errorf("observedGeneration %d, want %d", st.ObservedGeneration, tc.pdb.Generation)
			}
			cond := apimeta.FindStatusCondition(st.Conditions, policyv1.DisruptionAllowedCondition)
			wantStatus, wantReason := metav1.ConditionFalse, policyv1.InsufficientPodsReason
			if tc.want.allowed > 0 {
				wantStatus, wantReason = metav1.ConditionTrue, policyv1.SufficientPodsReason
			}
			if cond == nil || cond.Status != wantStatus || cond.Reason != wantReason || cond.ObservedGeneration != tc.pdb.Generation {
				t.Errorf("condition %+v, want %s/%s", cond, wantStatus, wantReason)
			}
		})
	}
}

func withDisrupted(p *policyv1.PodDisruptionBudget, m map[string]metav1.Time) *policyv1.PodDisruptionBudget {
	p.Status.DisruptedPods = m
	return p
}

// The condition's transition time moves only when its status flips, so
// a recount that changes nothing writes nothing.
func TestConditionTransitionTime(t *testing.T) {
	earlier := ago(time.Hour)
	pdb := budget(num(1), nil)
	pdb.Status.Conditions = []metav1.Condition{{Type: policyv1.DisruptionAllowedCondition, Status: metav1.ConditionTrue,
		Reason: policyv1.SufficientPodsReason, LastTransitionTime: earlier}}

	st, _, err := ComputeStatus(pdb, readyPods(3), 0, now)
	if err != nil {
		t.Fatal(err)
	}
	if c := st.Conditions[0]; !c.LastTransitionTime.Equal(&earlier) {
		t.Errorf("unchanged condition moved to %v", c.LastTransitionTime)
	}
	st, _, err = ComputeStatus(pdb, readyPods(1), 0, now)
	if err != nil {
		t.Fatal(err)
	}
	if c := st.Conditions[0]; c.Status != metav1.ConditionFalse || !c.LastTransitionTime.Time.Equal(now) {
		t.Errorf("flipped condition %+v, want False at %v", c, now)
	}
	if pdb.Status.Conditions[0].Status != metav1.ConditionTrue {
		t.Error("ComputeStatus changed the budget it was given")
	}
}

func TestFailSafeStatus(t *testing.T) {
	pdb := budget(num(1), nil)
	pdb.Status = policyv1.PodDisruptionBudgetStatus{DisruptionsAllowed: 2, CurrentHealthy: 3, DesiredHealthy: 1, ExpectedPods: 3, ObservedGeneration: 3}
	st := FailSafeStatus(pdb, errors.New(`found no controllers for pod "a"`), now)
	c := apimeta.FindStatusCondition(st.Conditions, policyv1.DisruptionAllowedCondition)
	if st.DisruptionsAllowed != 0 || c == nil || c.Reason != policyv1.SyncFailedReason || c.Status != metav1.ConditionFalse ||
		c.Message != `found no controllers for pod "a"` {
		t.Errorf("fail-safe status %+v", st)
	}
	if st.CurrentHealthy != 3 || pdb.Status.DisruptionsAllowed != 2 {
		t.Errorf("fail-safe changed more than it should: %+v / %+v", st, pdb.Status)
	}
}

func TestStaleDisruption(t *testing.T) {
	withCond := func(reason string, status corev1.ConditionStatus, at time.Duration, phase corev1.PodPhase) *corev1.Pod {
		p := pod("a", true)
		p.Status.Phase = phase
		p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{Type: corev1.DisruptionTarget,
			Status: status, Reason: reason, LastTransitionTime: ago(at)})
		return p
	}
	cases := []struct {
		name  string
		pod   *corev1.Pod
		stale bool
		after time.Duration
	}{
		{"no condition", pod("a", true), false, 0},
		{"fresh eviction waits", withCond("EvictionByEvictionAPI", corev1.ConditionTrue, 30*time.Second, corev1.PodRunning), true, StalePodDisruptionTimeout - 30*time.Second},
		{"old eviction is stale now", withCond("EvictionByEvictionAPI", corev1.ConditionTrue, 5*time.Minute, corev1.PodRunning), true, 0},
		{"already reset", withCond("", corev1.ConditionFalse, 5*time.Minute, corev1.PodRunning), false, 0},
		{"the kubelet's own", withCond(corev1.PodReasonTerminationByKubelet, corev1.ConditionTrue, 5*time.Minute, corev1.PodRunning), false, 0},
		{"finished pod", withCond("EvictionByEvictionAPI", corev1.ConditionTrue, 5*time.Minute, corev1.PodFailed), false, 0},
		{"terminating pod", deleting(withCond("EvictionByEvictionAPI", corev1.ConditionTrue, 5*time.Minute, corev1.PodRunning)), false, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			stale, after := StaleDisruption(tc.pod, now)
			if stale != tc.stale || after != tc.after {
				t.Errorf("StaleDisruption = %v, %v; want %v, %v", stale, after, tc.stale, tc.after)
			}
		})
	}
}
