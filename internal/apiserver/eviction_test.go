package apiserver

import (
	"net/http"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func evictionPod(phase corev1.PodPhase, ready bool) *corev1.Pod {
	st := corev1.ConditionFalse
	if ready {
		st = corev1.ConditionTrue
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web-1", Namespace: "ns", Labels: map[string]string{"app": "web"}},
		Status: corev1.PodStatus{Phase: phase,
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: st}}},
	}
}

type pdbOpt func(*policyv1.PodDisruptionBudget)

func evictionPDB(name string, opts ...pdbOpt) *policyv1.PodDisruptionBudget {
	p := &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", Generation: 1},
		Spec:       policyv1.PodDisruptionBudgetSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}},
		Status:     policyv1.PodDisruptionBudgetStatus{ObservedGeneration: 1, CurrentHealthy: 3, DesiredHealthy: 2, ExpectedPods: 3, DisruptionsAllowed: 1},
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

func pdbSelecting(sel *metav1.LabelSelector) pdbOpt {
	return func(p *policyv1.PodDisruptionBudget) { p.Spec.Selector = sel }
}

func pdbHealthy(current, desired int32) pdbOpt {
	return func(p *policyv1.PodDisruptionBudget) {
		p.Status.CurrentHealthy, p.Status.DesiredHealthy = current, desired
	}
}

func pdbUnhealthyPolicy(pol policyv1.UnhealthyPodEvictionPolicyType) pdbOpt {
	return func(p *policyv1.PodDisruptionBudget) { p.Spec.UnhealthyPodEvictionPolicy = &pol }
}

func pdbInNamespace(ns string) pdbOpt {
	return func(p *policyv1.PodDisruptionBudget) { p.Namespace = ns }
}

func TestPlanEviction(t *testing.T) {
	deleting := evictionPod(corev1.PodRunning, true)
	deleting.DeletionTimestamp = &metav1.Time{Time: time.Unix(1, 0)}
	cases := []struct {
		name    string
		pod     *corev1.Pod
		budgets []*policyv1.PodDisruptionBudget
		action  evictionAction
		pdb     string
		code    int32
	}{
		{name: "no budget", pod: evictionPod(corev1.PodRunning, true), action: evictDelete},
		{name: "budget selects other pods", pod: evictionPod(corev1.PodRunning, true),
			budgets: []*policyv1.PodDisruptionBudget{evictionPDB("db", pdbSelecting(&metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}}))},
			action:  evictDelete},
		{name: "budget of another namespace", pod: evictionPod(corev1.PodRunning, true),
			budgets: []*policyv1.PodDisruptionBudget{evictionPDB("b", pdbInNamespace("other"))}, action: evictDelete},
		{name: "nil selector selects nothing", pod: evictionPod(corev1.PodRunning, true),
			budgets: []*policyv1.PodDisruptionBudget{evictionPDB("b", pdbSelecting(nil))}, action: evictDelete},
		{name: "empty selector selects everything", pod: evictionPod(corev1.PodRunning, true),
			budgets: []*policyv1.PodDisruptionBudget{evictionPDB("b", pdbSelecting(&metav1.LabelSelector{}))}, action: evictSpend, pdb: "b"},
		{name: "ready pod spends its budget", pod: evictionPod(corev1.PodRunning, true),
			budgets: []*policyv1.PodDisruptionBudget{evictionPDB("b")}, action: evictSpend, pdb: "b"},
		{name: "succeeded pod ignores budgets", pod: evictionPod(corev1.PodSucceeded, false),
			budgets: []*policyv1.PodDisruptionBudget{evictionPDB("b"), evictionPDB("c")}, action: evictDelete},
		{name: "failed pod ignores budgets", pod: evictionPod(corev1.PodFailed, false),
			budgets: []*policyv1.PodDisruptionBudget{evictionPDB("b")}, action: evictDelete},
		{name: "terminating pod ignores budgets", pod: deleting,
			budgets: []*policyv1.PodDisruptionBudget{evictionPDB("b")}, action: evictDelete},
		{name: "pending pod ignores budgets if unchanged", pod: evictionPod(corev1.PodPending, false),
			budgets: []*policyv1.PodDisruptionBudget{evictionPDB("b")}, action: evictDeleteIfUnchanged},
		{name: "two budgets", pod: evictionPod(corev1.PodRunning, true),
			budgets: []*policyv1.PodDisruptionBudget{evictionPDB("b"), evictionPDB("c")}, action: evictRefuse, code: http.StatusInternalServerError},
		{name: "unready pod, healthy budget", pod: evictionPod(corev1.PodRunning, false),
			budgets: []*policyv1.PodDisruptionBudget{evictionPDB("b", pdbHealthy(2, 2))}, action: evictDeleteIfUnchanged, pdb: "b"},
		{name: "unready pod, IfHealthyBudget, healthy budget", pod: evictionPod(corev1.PodRunning, false),
			budgets: []*policyv1.PodDisruptionBudget{evictionPDB("b", pdbHealthy(3, 2), pdbUnhealthyPolicy(policyv1.IfHealthyBudget))},
			action:  evictDeleteIfUnchanged, pdb: "b"},
		{name: "unready pod, disrupted budget", pod: evictionPod(corev1.PodRunning, false),
			budgets: []*policyv1.PodDisruptionBudget{evictionPDB("b", pdbHealthy(1, 2))}, action: evictSpend, pdb: "b"},
		{name: "unready pod, budget that desires nothing", pod: evictionPod(corev1.PodRunning, false),
			budgets: []*policyv1.PodDisruptionBudget{evictionPDB("b", pdbHealthy(0, 0))}, action: evictSpend, pdb: "b"},
		{name: "unready pod, AlwaysAllow, disrupted budget", pod: evictionPod(corev1.PodRunning, false),
			budgets: []*policyv1.PodDisruptionBudget{evictionPDB("b", pdbHealthy(1, 2), pdbUnhealthyPolicy(policyv1.AlwaysAllow))},
			action:  evictDeleteIfUnchanged, pdb: "b"},
		{name: "ready pod, AlwaysAllow still spends", pod: evictionPod(corev1.PodRunning, true),
			budgets: []*policyv1.PodDisruptionBudget{evictionPDB("b", pdbUnhealthyPolicy(policyv1.AlwaysAllow))}, action: evictSpend, pdb: "b"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			plan := planEviction(tc.pod, tc.budgets)
			if plan.action != tc.action {
				t.Fatalf("action %d, want %d (plan %+v)", plan.action, tc.action, plan)
			}
			if name := planBudgetName(plan.pdb); name != tc.pdb {
				t.Errorf("budget %q, want %q", name, tc.pdb)
			}
			if tc.code != 0 {
				se, ok := plan.err.(*apierrors.StatusError)
				if !ok || se.ErrStatus.Code != tc.code {
					t.Fatalf("error %v, want code %d", plan.err, tc.code)
				}
				if want := "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support."; se.ErrStatus.Message != want {
					t.Errorf("message %q", se.ErrStatus.Message)
				}
			} else if plan.err != nil {
				t.Errorf("unexpected error %v", plan.err)
			}
		})
	}
}

func planBudgetName(p *policyv1.PodDisruptionBudget) string {
	if p == nil {
		return ""
	}
	return p.Name
}

func TestSpendDisruption(t *testing.T) {
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		name      string
		pdb       *policyv1.PodDisruptionBudget
		code      int32
		cause     string
		allowed   int32
		condition metav1.ConditionStatus
	}{
		{name: "last allowed disruption", pdb: evictionPDB("b"), allowed: 0, condition: metav1.ConditionFalse},
		{name: "one of several", pdb: evictionPDB("b", func(p *policyv1.PodDisruptionBudget) { p.Status.DisruptionsAllowed = 3 }), allowed: 2},
		{name: "none allowed", pdb: evictionPDB("b", func(p *policyv1.PodDisruptionBudget) { p.Status.DisruptionsAllowed = 0 }),
			code: http.StatusTooManyRequests, cause: "The disruption budget b needs 2 healthy pods and has 3 currently"},
		{name: "status behind the spec", pdb: evictionPDB("b", func(p *policyv1.PodDisruptionBudget) { p.Generation = 2 }),
			code: http.StatusTooManyRequests, cause: "The disruption budget b is still being processed by the server."},
		{name: "negative", pdb: evictionPDB("b", func(p *policyv1.PodDisruptionBudget) { p.Status.DisruptionsAllowed = -1 }),
			code: http.StatusForbidden},
		{name: "too many unconfirmed evictions", pdb: evictionPDB("b", func(p *policyv1.PodDisruptionBudget) {
			p.Status.DisruptedPods = map[string]metav1.Time{}
			for i := 0; i <= maxDisruptedPods; i++ {
				p.Status.DisruptedPods[string(rune('a'+i%26))+string(rune(i))] = metav1.NewTime(now)
			}
		}), code: http.StatusForbidden},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := tc.pdb.DeepCopy()
			out, err := spendDisruption(tc.pdb, "web-1", now)
			if tc.code != 0 {
				se, ok := err.(*apierrors.StatusError)
				if !ok || se.ErrStatus.Code != tc.code {
					t.Fatalf("error %v, want code %d", err, tc.code)
				}
				if tc.cause != "" {
					if !apierrors.HasStatusCause(err, policyv1.DisruptionBudgetCause) || se.ErrStatus.Details.Causes[0].Message != tc.cause {
						t.Errorf("causes %+v, want %q", se.ErrStatus.Details, tc.cause)
					}
					if se.ErrStatus.Message != "Cannot evict pod as it would violate the pod's disruption budget." {
						t.Errorf("message %q", se.ErrStatus.Message)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if out.Status.DisruptionsAllowed != tc.allowed {
				t.Errorf("disruptionsAllowed %d, want %d", out.Status.DisruptionsAllowed, tc.allowed)
			}
			if at, ok := out.Status.DisruptedPods["web-1"]; !ok || !at.Time.Equal(now) {
				t.Errorf("disruptedPods %v, want web-1 at %v", out.Status.DisruptedPods, now)
			}
			cond := apimeta.FindStatusCondition(out.Status.Conditions, policyv1.DisruptionAllowedCondition)
			if tc.condition != "" && (cond == nil || cond.Status != tc.condition || cond.Reason != policyv1.InsufficientPodsReason) {
				t.Errorf("condition %+v, want %s", cond, tc.condition)
			}
			if tc.condition == "" && cond != nil {
				t.Errorf("condition set while disruptions remain: %+v", cond)
			}
			if tc.pdb.Status.DisruptionsAllowed != before.Status.DisruptionsAllowed || len(tc.pdb.Status.DisruptedPods) != len(before.Status.DisruptedPods) {
				t.Error("spendDisruption changed the budget it was given")
			}
		})
	}
}
