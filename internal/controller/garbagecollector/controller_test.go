package garbagecollector

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/discovery"
	fakediscovery "k8s.io/client-go/discovery/fake"
	metadatafake "k8s.io/client-go/metadata/fake"
	clienttesting "k8s.io/client-go/testing"
	clocktesting "k8s.io/utils/clock/testing"
	"time"
)

func resourceList(gv string, names ...string) *metav1.APIResourceList {
	l := &metav1.APIResourceList{GroupVersion: gv}
	for _, n := range names {
		l.APIResources = append(l.APIResources, metav1.APIResource{Name: n, Kind: n, Namespaced: true,
			Verbs: metav1.Verbs{"get", "list", "watch", "delete"}})
	}
	return l
}

func (c *Controller) watched() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for gvr := range c.monitors {
		out = append(out, gvr.String())
	}
	slices.Sort(out)
	return out
}

// Rediscovery watches resources that appear and stops watching those
// that go, but keeps watching a group that merely failed to answer.
func TestSyncResourcesFollowsDiscovery(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := metav1.AddMetaToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	meta := metadatafake.NewSimpleMetadataClient(scheme)
	disc := &fakediscovery.FakeDiscovery{Fake: &clienttesting.Fake{}}
	disc.Resources = []*metav1.APIResourceList{resourceList("v1", "configmaps"), resourceList("example.com/v1", "widgets")}
	c := New(meta, disc, clocktesting.NewFakeClock(time.Now()), slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	defer func() {
		cancel()
		c.wg.Wait()
	}()

	if err := c.syncResources(ctx); err != nil {
		t.Fatal(err)
	}
	if got, want := c.watched(), []string{"/v1, Resource=configmaps", "example.com/v1, Resource=widgets"}; !slices.Equal(got, want) {
		t.Fatalf("watched %v, want %v", got, want)
	}

	disc.Resources = []*metav1.APIResourceList{resourceList("v1", "configmaps", "secrets")}
	if err := c.syncResources(ctx); err != nil {
		t.Fatal(err)
	}
	if got, want := c.watched(), []string{"/v1, Resource=configmaps", "/v1, Resource=secrets"}; !slices.Equal(got, want) {
		t.Fatalf("after a resource went and one came: watched %v, want %v", got, want)
	}
	if _, err := c.lookup("example.com/v1", "widgets"); err == nil {
		t.Error("a resource no longer served still resolves")
	}

	disc.Resources = []*metav1.APIResourceList{resourceList("v1", "configmaps")}
	disc.PrependReactor("get", "resource", func(clienttesting.Action) (bool, runtime.Object, error) {
		return true, nil, &discovery.ErrGroupDiscoveryFailed{Groups: nil}
	})
	if err := c.syncResources(ctx); err == nil {
		t.Error("partial discovery reported no error")
	}
	if got, want := c.watched(), []string{"/v1, Resource=configmaps", "/v1, Resource=secrets"}; !slices.Equal(got, want) {
		t.Fatalf("after partial discovery: watched %v, want %v", got, want)
	}
}
