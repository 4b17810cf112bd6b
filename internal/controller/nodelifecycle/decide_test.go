package nodelifecycle

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func TestObserve(t *testing.T) {
	lease := t0.Add(-5 * time.Second)
	hb := t0.Add(-30 * time.Second)
	prev := probe{leaseRenew: lease, heartbeat: hb, observedAt: t0}
	tests := []struct {
		name      string
		known     bool
		lease, hb time.Time
		now       time.Time
		wantAt    time.Time
	}{
		{"first sight counts as alive now", false, lease, hb, t0.Add(time.Minute), t0.Add(time.Minute)},
		{"nothing new keeps the old observation", true, lease, hb, t0.Add(time.Minute), t0},
		{"lease renewed", true, lease.Add(10 * time.Second), hb, t0.Add(time.Minute), t0.Add(time.Minute)},
		{"status heartbeat", true, lease, hb.Add(time.Minute), t0.Add(time.Minute), t0.Add(time.Minute)},
		// A node clock far in the past still counts: only change matters.
		{"skewed node clock", true, lease.Add(-time.Hour), hb, t0.Add(time.Minute), t0.Add(time.Minute)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := observe(prev, tc.known, tc.lease, tc.hb, tc.now)
			if !got.observedAt.Equal(tc.wantAt) {
				t.Errorf("observedAt = %v, want %v", got.observedAt, tc.wantAt)
			}
		})
	}
	if d := staleIn(probe{observedAt: t0}, t0.Add(30*time.Second), 40*time.Second); d != 10*time.Second {
		t.Errorf("staleIn = %v, want 10s", d)
	}
	if d := staleIn(probe{observedAt: t0}, t0.Add(41*time.Second), 40*time.Second); d > 0 {
		t.Errorf("staleIn = %v, want <= 0", d)
	}
}

func TestMarkUnknown(t *testing.T) {
	old := metav1.NewTime(t0.Add(-time.Hour))
	now := metav1.NewTime(t0)
	healthy := []corev1.NodeCondition{
		{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", LastHeartbeatTime: old, LastTransitionTime: old},
		{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse, LastHeartbeatTime: old, LastTransitionTime: old},
		{Type: corev1.NodeDiskPressure, Status: corev1.ConditionFalse, LastHeartbeatTime: old, LastTransitionTime: old},
		{Type: corev1.NodePIDPressure, Status: corev1.ConditionFalse, LastHeartbeatTime: old, LastTransitionTime: old},
		{Type: corev1.NodeNetworkUnavailable, Status: corev1.ConditionFalse, LastTransitionTime: old},
	}
	t.Run("healthy node goes unknown", func(t *testing.T) {
		got, changed := markUnknown(healthy, now)
		if !changed {
			t.Fatal("want changed")
		}
		for _, c := range got {
			if c.Type == corev1.NodeNetworkUnavailable {
				if c.Status != corev1.ConditionFalse {
					t.Errorf("NetworkUnavailable touched: %+v", c)
				}
				continue
			}
			if c.Status != corev1.ConditionUnknown || c.Reason != "NodeStatusUnknown" || c.Message != "Kubelet stopped posting node status." {
				t.Errorf("%s = %+v", c.Type, c)
			}
			if !c.LastTransitionTime.Equal(&now) || !c.LastHeartbeatTime.Equal(&old) {
				t.Errorf("%s times: transition %v heartbeat %v", c.Type, c.LastTransitionTime, c.LastHeartbeatTime)
			}
		}
		if healthy[0].Status != corev1.ConditionTrue {
			t.Error("input modified")
		}
	})
	t.Run("already unknown is unchanged", func(t *testing.T) {
		once, _ := markUnknown(healthy, now)
		if _, changed := markUnknown(once, metav1.NewTime(t0.Add(time.Minute))); changed {
			t.Error("second pass changed")
		}
	})
	t.Run("never posted", func(t *testing.T) {
		got, changed := markUnknown(nil, now)
		if !changed || len(got) != 4 {
			t.Fatalf("got %d conditions, changed=%v", len(got), changed)
		}
		for _, c := range got {
			if c.Status != corev1.ConditionUnknown || c.Reason != "NodeStatusNeverUpdated" {
				t.Errorf("%+v", c)
			}
		}
	})
}

func taintKeys(ts []corev1.Taint) map[string]bool {
	m := map[string]bool{}
	for _, t := range ts {
		m[t.Key+":"+string(t.Effect)] = true
	}
	return m
}

func TestDesiredTaints(t *testing.T) {
	now := metav1.NewTime(t0)
	earlier := metav1.NewTime(t0.Add(-time.Minute))
	user := corev1.Taint{Key: "dedicated", Value: "db", Effect: corev1.TaintEffectNoSchedule}
	unreachableNE := corev1.Taint{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute, TimeAdded: &earlier}
	unreachableNS := corev1.Taint{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoSchedule}
	tests := []struct {
		name    string
		taints  []corev1.Taint
		ready   corev1.ConditionStatus
		want    []string
		changed bool
	}{
		{"ready keeps user taints", []corev1.Taint{user}, corev1.ConditionTrue, []string{"dedicated:NoSchedule"}, false},
		{"unknown adds unreachable", []corev1.Taint{user}, corev1.ConditionUnknown,
			[]string{"dedicated:NoSchedule", "node.kubernetes.io/unreachable:NoSchedule", "node.kubernetes.io/unreachable:NoExecute"}, true},
		{"false adds not-ready", nil, corev1.ConditionFalse,
			[]string{"node.kubernetes.io/not-ready:NoSchedule", "node.kubernetes.io/not-ready:NoExecute"}, true},
		{"unknown to false swaps", []corev1.Taint{unreachableNE, unreachableNS}, corev1.ConditionFalse,
			[]string{"node.kubernetes.io/not-ready:NoSchedule", "node.kubernetes.io/not-ready:NoExecute"}, true},
		{"recovery removes", []corev1.Taint{user, unreachableNE, unreachableNS}, corev1.ConditionTrue, []string{"dedicated:NoSchedule"}, true},
		{"already right", []corev1.Taint{unreachableNE, unreachableNS}, corev1.ConditionUnknown,
			[]string{"node.kubernetes.io/unreachable:NoSchedule", "node.kubernetes.io/unreachable:NoExecute"}, false},
		{"no ready condition yet", nil, "", nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, changed := desiredTaints(tc.taints, tc.ready, now)
			if changed != tc.changed {
				t.Errorf("changed = %v, want %v", changed, tc.changed)
			}
			keys := taintKeys(got)
			if len(keys) != len(tc.want) {
				t.Errorf("taints = %v, want %v", keys, tc.want)
			}
			for _, w := range tc.want {
				if !keys[w] {
					t.Errorf("missing %s in %v", w, keys)
				}
			}
			for _, tt := range got {
				if tt.Effect == corev1.TaintEffectNoExecute && tt.TimeAdded == nil {
					t.Errorf("NoExecute taint %s without TimeAdded", tt.Key)
				}
				if tt.Key == corev1.TaintNodeUnreachable && tt.Effect == corev1.TaintEffectNoExecute && !changed && !tt.TimeAdded.Equal(&earlier) {
					t.Errorf("existing taint's TimeAdded changed")
				}
			}
		})
	}
}

func secs(n int64) *int64 { return &n }

func TestDecideEviction(t *testing.T) {
	added := metav1.NewTime(t0)
	unreachable := corev1.Taint{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute, TimeAdded: &added}
	noSchedule := corev1.Taint{Key: "x", Effect: corev1.TaintEffectNoSchedule}
	custom := corev1.Taint{Key: "drain", Value: "yes", Effect: corev1.TaintEffectNoExecute}
	tolUnreachable := func(s *int64) corev1.Toleration {
		return corev1.Toleration{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: s}
	}
	tests := []struct {
		name   string
		tols   []corev1.Toleration
		taints []corev1.Taint
		now    time.Time
		want   eviction
	}{
		{"no taints", nil, nil, t0, eviction{}},
		{"NoSchedule only", nil, []corev1.Taint{noSchedule}, t0, eviction{}},
		{"untolerated", nil, []corev1.Taint{unreachable}, t0, eviction{now: true}},
		{"tolerated forever", []corev1.Toleration{tolUnreachable(nil)}, []corev1.Taint{unreachable}, t0.Add(time.Hour), eviction{}},
		{"wildcard toleration", []corev1.Toleration{{Operator: corev1.TolerationOpExists}}, []corev1.Taint{unreachable, custom}, t0, eviction{}},
		{"tolerated for 300s, 100s in", []corev1.Toleration{tolUnreachable(secs(300))}, []corev1.Taint{unreachable}, t0.Add(100 * time.Second), eviction{after: 200 * time.Second}},
		{"tolerated for 300s, expired", []corev1.Toleration{tolUnreachable(secs(300))}, []corev1.Taint{unreachable}, t0.Add(300 * time.Second), eviction{now: true}},
		{"zero seconds", []corev1.Toleration{tolUnreachable(secs(0))}, []corev1.Taint{unreachable}, t0, eviction{now: true}},
		{"limited beats unlimited", []corev1.Toleration{tolUnreachable(nil), tolUnreachable(secs(5))}, []corev1.Taint{unreachable}, t0, eviction{after: 5 * time.Second}},
		{"one of two taints untolerated", []corev1.Toleration{tolUnreachable(nil)}, []corev1.Taint{unreachable, custom}, t0, eviction{now: true}},
		{"earliest deadline wins", []corev1.Toleration{tolUnreachable(secs(60)), {Key: "drain", Operator: corev1.TolerationOpEqual, Value: "yes", Effect: corev1.TaintEffectNoExecute, TolerationSeconds: secs(10)}},
			[]corev1.Taint{unreachable, custom}, t0, eviction{after: 10 * time.Second}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Taints without TimeAdded count from t0 here.
			got := decideEviction(tc.tols, tc.taints, tc.now, func(corev1.Taint) time.Time { return t0 })
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestPodNotReady(t *testing.T) {
	now := metav1.NewTime(t0)
	ready := []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue}, {Type: corev1.PodReady, Status: corev1.ConditionTrue}}
	got, changed := podNotReady(ready, now)
	if !changed || got[1].Status != corev1.ConditionFalse || !got[1].LastTransitionTime.Equal(&now) {
		t.Errorf("got %+v changed=%v", got, changed)
	}
	if ready[1].Status != corev1.ConditionTrue {
		t.Error("input modified")
	}
	if _, changed := podNotReady(got, now); changed {
		t.Error("not-ready pod changed again")
	}
	if _, changed := podNotReady(nil, now); changed {
		t.Error("pod without conditions changed")
	}
}

func TestSameNoExecute(t *testing.T) {
	at := metav1.NewTime(t0)
	later := metav1.NewTime(t0.Add(time.Second))
	ne := func(key string, added *metav1.Time) corev1.Taint {
		return corev1.Taint{Key: key, Effect: corev1.TaintEffectNoExecute, TimeAdded: added}
	}
	ns := corev1.Taint{Key: "x", Effect: corev1.TaintEffectNoSchedule}
	tests := []struct {
		name string
		a, b []corev1.Taint
		want bool
	}{
		{"both empty", nil, nil, true},
		{"NoSchedule ignored", nil, []corev1.Taint{ns}, true},
		{"added without time", nil, []corev1.Taint{ne("drain", nil)}, false},
		{"same", []corev1.Taint{ne("a", &at)}, []corev1.Taint{ne("a", &at)}, true},
		{"re-added later", []corev1.Taint{ne("a", &at)}, []corev1.Taint{ne("a", &later)}, false},
		{"removed", []corev1.Taint{ne("a", nil)}, nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := sameNoExecute(tc.a, tc.b); got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}
