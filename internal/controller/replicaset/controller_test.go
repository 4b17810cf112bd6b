package replicaset_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/utils/clock"

	"github.com/gureum/gureum/internal/controller/replicaset"
	"github.com/gureum/gureum/internal/testenv"
	"github.com/gureum/gureum/internal/testenv/fakekubelet"
)

// startController runs the ReplicaSet controller and the
// ReplicationController manager against s until the test ends.
func startController(t *testing.T, s *testenv.Server) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	f := informers.NewSharedInformerFactory(s.Client, 0)
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	rs := replicaset.New(s.Client, f, clock.RealClock{}, log)
	rc := replicaset.NewReplicationManager(s.Client, f, clock.RealClock{}, log)
	done := make(chan struct{}, 2)
	go func() { _ = rs.Run(ctx); done <- struct{}{} }()
	go func() { _ = rc.Run(ctx); done <- struct{}{} }()
	t.Cleanup(func() { cancel(); <-done; <-done })
}

// eventually polls cond every 25ms until it returns nil or 20s pass.
func eventually(t *testing.T, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

func activePods(t *testing.T, s *testenv.Server, ns, selector string) []corev1.Pod {
	t.Helper()
	l, err := s.Client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		t.Fatalf("list pods: %v", err)
	}
	var out []corev1.Pod
	for _, p := range l.Items {
		if p.DeletionTimestamp == nil {
			out = append(out, p)
		}
	}
	return out
}

func waitRS(t *testing.T, s *testenv.Server, ns, name string, replicas, ready, available int32) *appsv1.ReplicaSet {
	t.Helper()
	var rs *appsv1.ReplicaSet
	eventually(t, "replicaset "+name+" status", func() error {
		var err error
		rs, err = s.Client.AppsV1().ReplicaSets(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		st := rs.Status
		if st.ObservedGeneration != rs.Generation || st.Replicas != replicas || st.ReadyReplicas != ready || st.AvailableReplicas != available || st.FullyLabeledReplicas != replicas {
			return fmt.Errorf("status %+v, want replicas=%d ready=%d available=%d at generation %d", st, replicas, ready, available, rs.Generation)
		}
		return nil
	})
	return rs
}

const rsManifest = `apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: web}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web, tier: front}}
    spec:
      containers: [{name: web, image: web:1}]
`

func TestReplicaSetScalesAndReplacesPods(t *testing.T) {
	s := testenv.Start(t)
	startController(t, s)
	fakekubelet.Start(t, s.Client)
	ctx := context.Background()

	s.MustKubectl(t, rsManifest, "apply", "-f", "-")
	rs := waitRS(t, s, "default", "web", 3, 3, 3)
	pods := activePods(t, s, "default", "app=web")
	if len(pods) != 3 {
		t.Fatalf("pods = %d, want 3", len(pods))
	}
	for _, p := range pods {
		ref := metav1.GetControllerOf(&p)
		if !strings.HasPrefix(p.Name, "web-") || ref == nil || ref.UID != rs.UID || ref.Kind != "ReplicaSet" ||
			ref.BlockOwnerDeletion == nil || !*ref.BlockOwnerDeletion || p.Labels["tier"] != "front" {
			t.Errorf("pod %s: name/owner/labels wrong: %+v %v", p.Name, p.OwnerReferences, p.Labels)
		}
	}

	out := s.MustKubectl(t, "", "get", "rs", "web")
	if !strings.Contains(out, "DESIRED") || !regexpFields(out, "web", "3", "3", "3") {
		t.Errorf("kubectl get rs:\n%s", out)
	}

	s.MustKubectl(t, "", "scale", "rs/web", "--replicas=5")
	waitRS(t, s, "default", "web", 5, 5, 5)
	s.MustKubectl(t, "", "scale", "rs/web", "--replicas=1")
	waitRS(t, s, "default", "web", 1, 1, 1)
	eventually(t, "scale down to one pod", func() error {
		if n := len(activePods(t, s, "default", "app=web")); n != 1 {
			return fmt.Errorf("%d active pods", n)
		}
		return nil
	})

	// A deleted pod is replaced.
	victim := activePods(t, s, "default", "app=web")[0]
	if err := s.Client.CoreV1().Pods("default").Delete(ctx, victim.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "replacement pod", func() error {
		pods := activePods(t, s, "default", "app=web")
		if len(pods) != 1 || pods[0].UID == victim.UID {
			return fmt.Errorf("pods %d, first is victim: %v", len(pods), len(pods) > 0 && pods[0].UID == victim.UID)
		}
		return nil
	})
	waitRS(t, s, "default", "web", 1, 1, 1)

	evs, err := s.Client.CoreV1().Events("default").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	reasons := map[string]bool{}
	for _, e := range evs.Items {
		reasons[e.Reason] = true
	}
	if !reasons["SuccessfulCreate"] || !reasons["SuccessfulDelete"] {
		t.Errorf("events reasons %v, want SuccessfulCreate and SuccessfulDelete", reasons)
	}
}

// regexpFields reports whether some line of out has exactly these leading
// whitespace-separated fields.
func regexpFields(out string, want ...string) bool {
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < len(want) {
			continue
		}
		ok := true
		for i, w := range want {
			if f[i] != w {
				ok = false
			}
		}
		if ok {
			return true
		}
	}
	return false
}

func TestReplicaSetAdoptsOrphansAndReleasesMismatches(t *testing.T) {
	s := testenv.Start(t)
	startController(t, s)
	fakekubelet.Start(t, s.Client)
	ctx := context.Background()

	s.MustKubectl(t, `apiVersion: v1
kind: Pod
metadata: {name: orphan, labels: {app: web, tier: front}}
spec:
  containers: [{name: web, image: web:1}]
`, "apply", "-f", "-")
	s.MustKubectl(t, rsManifest, "apply", "-f", "-")
	rs := waitRS(t, s, "default", "web", 3, 3, 3)
	p, err := s.Client.CoreV1().Pods("default").Get(ctx, "orphan", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ref := metav1.GetControllerOf(p); ref == nil || ref.UID != rs.UID {
		t.Fatalf("orphan not adopted: %+v", p.OwnerReferences)
	}
	if n := len(activePods(t, s, "default", "app=web")); n != 3 {
		t.Fatalf("active pods = %d, want 3 (orphan adopted, two created)", n)
	}

	// Relabelling a pod out of the selector releases it and a
	// replacement takes its place.
	s.MustKubectl(t, "", "label", "pod", "orphan", "app=debug", "--overwrite")
	eventually(t, "release", func() error {
		p, err := s.Client.CoreV1().Pods("default").Get(ctx, "orphan", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if len(p.OwnerReferences) != 0 {
			return fmt.Errorf("still owned: %+v", p.OwnerReferences)
		}
		if n := len(activePods(t, s, "default", "app=web")); n != 3 {
			return fmt.Errorf("%d pods match app=web", n)
		}
		return nil
	})
	waitRS(t, s, "default", "web", 3, 3, 3)
}

func TestReplicaSetMinReadySecondsDelaysAvailability(t *testing.T) {
	s := testenv.Start(t)
	startController(t, s)
	fakekubelet.Start(t, s.Client)

	// Every status the controller writes is seen through a watch opened
	// before the ReplicaSet exists, so a short ready-but-unavailable
	// phase cannot slip between two polls on a loaded machine.
	w, err := s.Client.AppsV1().ReplicaSets("default").Watch(context.Background(), metav1.ListOptions{FieldSelector: "metadata.name=web"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	s.MustKubectl(t, strings.Replace(rsManifest, "replicas: 3", "replicas: 2\n  minReadySeconds: 3", 1), "apply", "-f", "-")

	// Ready first, available only once minReadySeconds have passed (the
	// Ready transition time has one-second resolution, so the wait is
	// between two and three seconds); nothing but the controller's own
	// timed requeue notices that moment.
	var readyAt time.Time
	deadline := time.After(20 * time.Second)
	for {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				t.Fatal("watch closed before the ReplicaSet became available")
			}
			rs, isRS := ev.Object.(*appsv1.ReplicaSet)
			if !isRS {
				t.Fatalf("watch event %s: %T", ev.Type, ev.Object)
			}
			st := rs.Status
			switch {
			case st.ReadyReplicas == 2 && st.AvailableReplicas == 0 && readyAt.IsZero():
				readyAt = time.Now()
			case st.AvailableReplicas > 0 && readyAt.IsZero():
				t.Fatalf("available before a ready-but-unavailable status was written: %+v", st)
			case st.AvailableReplicas == 2:
				if st.ReadyReplicas != 2 || st.Replicas != 2 {
					t.Fatalf("status %+v, want replicas=2 ready=2 available=2", st)
				}
				return
			}
		case <-deadline:
			t.Fatalf("replicaset web not available 20 s after creation (ready seen: %v)", !readyAt.IsZero())
		}
	}
}

func TestReplicationControllerKeepsReplicas(t *testing.T) {
	s := testenv.Start(t)
	startController(t, s)
	fakekubelet.Start(t, s.Client)
	ctx := context.Background()

	s.MustKubectl(t, `apiVersion: v1
kind: ReplicationController
metadata: {name: legacy}
spec:
  replicas: 2
  selector: {app: legacy}
  template:
    metadata: {labels: {app: legacy}}
    spec:
      containers: [{name: c, image: web:1}]
`, "apply", "-f", "-")
	eventually(t, "rc status", func() error {
		rc, err := s.Client.CoreV1().ReplicationControllers("default").Get(ctx, "legacy", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if rc.Status.Replicas != 2 || rc.Status.ReadyReplicas != 2 || rc.Status.AvailableReplicas != 2 || rc.Status.ObservedGeneration != rc.Generation {
			return fmt.Errorf("status %+v", rc.Status)
		}
		return nil
	})
	s.MustKubectl(t, "", "scale", "rc/legacy", "--replicas=0")
	eventually(t, "rc scaled to zero", func() error {
		if n := len(activePods(t, s, "default", "app=legacy")); n != 0 {
			return fmt.Errorf("%d pods", n)
		}
		return nil
	})
}
