package integration

import (
	"net/http"
	"sort"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/gureum/gureum/internal/testenv"
)

func podNames(items []corev1.Pod) []string {
	out := make([]string, 0, len(items))
	for _, p := range items {
		out = append(out, p.Name)
	}
	sort.Strings(out)
	return out
}

func sameNames(got []string, want ...string) bool {
	sort.Strings(want)
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if got[i] != want[i] {
			return false
		}
	}
	return true
}

// TestWireLabelAndFieldSelectors checks label and field selectors on list
// and watch, including objects that move in and out of a watch's selector.
func TestWireLabelAndFieldSelectors(t *testing.T) {
	t.Parallel()
	s := testenv.Start(t)
	ctx := wireCtx(t)
	ns := mkNamespace(t, s, "wire-selectors")
	pods := s.Client.CoreV1().Pods(ns)

	mk := func(name, node string, labels map[string]string) *corev1.Pod {
		p := simplePod(name)
		p.Labels = labels
		p.Spec.NodeName = node
		out, err := pods.Create(ctx, p, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("create pod %s: %v", name, err)
		}
		return out
	}
	mk("web-1", "node-a", map[string]string{"app": "web", "tier": "front"})
	mk("web-2", "node-b", map[string]string{"app": "web", "tier": "front"})
	db := mk("db-1", "", map[string]string{"app": "db"})
	db.Status.Phase = corev1.PodRunning
	if _, err := pods.UpdateStatus(ctx, db, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("set db-1 Running: %v", err)
	}

	list := func(t *testing.T, opts metav1.ListOptions) []string {
		t.Helper()
		l, err := pods.List(ctx, opts)
		if err != nil {
			t.Fatalf("list %+v: %v", opts, err)
		}
		return podNames(l.Items)
	}

	t.Run("LabelSelectorOnList", func(t *testing.T) {
		if got := list(t, metav1.ListOptions{LabelSelector: "app=web"}); !sameNames(got, "web-1", "web-2") {
			t.Fatalf("app=web: %v", got)
		}
		if got := list(t, metav1.ListOptions{LabelSelector: "app in (db),!tier"}); !sameNames(got, "db-1") {
			t.Fatalf("app in (db),!tier: %v", got)
		}
		if got := list(t, metav1.ListOptions{LabelSelector: "app!=web"}); !sameNames(got, "db-1") {
			t.Fatalf("app!=web: %v", got)
		}
	})

	t.Run("PodFieldSelectorsOnList", func(t *testing.T) {
		if got := list(t, metav1.ListOptions{FieldSelector: "spec.nodeName=node-a"}); !sameNames(got, "web-1") {
			t.Fatalf("spec.nodeName=node-a: %v", got)
		}
		if got := list(t, metav1.ListOptions{FieldSelector: "spec.nodeName="}); !sameNames(got, "db-1") {
			t.Fatalf("spec.nodeName= (unscheduled): %v", got)
		}
		if got := list(t, metav1.ListOptions{FieldSelector: "status.phase=Running"}); !sameNames(got, "db-1") {
			t.Fatalf("status.phase=Running: %v", got)
		}
		if got := list(t, metav1.ListOptions{FieldSelector: "metadata.name=web-2"}); !sameNames(got, "web-2") {
			t.Fatalf("metadata.name=web-2: %v", got)
		}
		if got := list(t, metav1.ListOptions{FieldSelector: "metadata.name!=web-2,status.phase!=Running"}); !sameNames(got, "web-1") {
			t.Fatalf("metadata.name!=web-2,status.phase!=Running: %v", got)
		}
		if got := list(t, metav1.ListOptions{FieldSelector: "spec.nodeName=node-b", LabelSelector: "tier=front"}); !sameNames(got, "web-2") {
			t.Fatalf("field and label selector together: %v", got)
		}
	})

	t.Run("EventInvolvedObjectNameFieldSelector", func(t *testing.T) {
		evs := s.Client.CoreV1().Events(ns)
		for _, target := range []string{"web-1", "db-1"} {
			ev := &corev1.Event{
				ObjectMeta:     metav1.ObjectMeta{Name: "ev-" + target},
				InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: target},
				Reason:         "Testing", Message: "m", Type: corev1.EventTypeNormal,
				Source: corev1.EventSource{Component: "wire-test"},
			}
			if _, err := evs.Create(ctx, ev, metav1.CreateOptions{}); err != nil {
				t.Fatalf("create event: %v", err)
			}
		}
		l, err := evs.List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=db-1"})
		if err != nil {
			t.Fatal(err)
		}
		if len(l.Items) != 1 || l.Items[0].Name != "ev-db-1" {
			t.Fatalf("involvedObject.name=db-1 listed %d events", len(l.Items))
		}
	})

	t.Run("UnsupportedFieldSelectorIs400", func(t *testing.T) {
		_, err := pods.List(ctx, metav1.ListOptions{FieldSelector: "spec.containers=x"})
		wantReason(t, err, http.StatusBadRequest, metav1.StatusReasonBadRequest)
		_, err = pods.Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.uid=x"})
		wantReason(t, err, http.StatusBadRequest, metav1.StatusReasonBadRequest)
		_, err = pods.List(ctx, metav1.ListOptions{LabelSelector: "app in (("})
		wantReason(t, err, http.StatusBadRequest, metav1.StatusReasonBadRequest)
	})

	t.Run("FieldSelectorOnWatch", func(t *testing.T) {
		l, err := pods.List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		w, err := pods.Watch(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=node-c", ResourceVersion: l.ResourceVersion})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		mk("elsewhere", "node-a", nil)
		mk("on-c", "node-c", nil)
		if ev := nextNonBookmark(t, w); ev.Type != watch.Added || objName(t, ev.Object) != "on-c" {
			t.Fatalf("watch spec.nodeName=node-c: first event %s %s, want ADDED on-c", ev.Type, objName(t, ev.Object))
		}
	})

	t.Run("ObjectsMovingAcrossAWatchLabelSelector", func(t *testing.T) {
		cms := s.Client.CoreV1().ConfigMaps(ns)
		cm := configMap("mover", nil)
		cm.Labels = map[string]string{"watched": "no"}
		cm, err := cms.Create(ctx, cm, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		w, err := cms.Watch(ctx, metav1.ListOptions{LabelSelector: "watched=yes", ResourceVersion: cm.ResourceVersion})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop()

		cm.Labels["watched"] = "yes"
		if cm, err = cms.Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		ev := nextNonBookmark(t, w)
		if ev.Type != watch.Added || objName(t, ev.Object) != "mover" {
			t.Fatalf("moving into the selector: %s %s, want ADDED mover", ev.Type, objName(t, ev.Object))
		}

		cm.Data = map[string]string{"k": "v"}
		if cm, err = cms.Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		if ev := nextNonBookmark(t, w); ev.Type != watch.Modified {
			t.Fatalf("change inside the selector: %s, want MODIFIED", ev.Type)
		}

		cm.Labels["watched"] = "no"
		if cm, err = cms.Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		ev = nextNonBookmark(t, w)
		if ev.Type != watch.Deleted || objName(t, ev.Object) != "mover" {
			t.Fatalf("moving out of the selector: %s %s, want DELETED mover", ev.Type, objName(t, ev.Object))
		}
		if got := ev.Object.(*corev1.ConfigMap).ResourceVersion; got != cm.ResourceVersion {
			t.Fatalf("DELETED carries rv %s, want the update's %s", got, cm.ResourceVersion)
		}
	})
}
