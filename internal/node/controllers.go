package node

import (
	"context"
	"fmt"
	"log/slog"
	"net"

	"golang.org/x/sync/errgroup"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"

	"github.com/gureum/gureum/internal/controller/cronjob"
	"github.com/gureum/gureum/internal/controller/daemonset"
	"github.com/gureum/gureum/internal/controller/deployment"
	"github.com/gureum/gureum/internal/controller/disruption"
	"github.com/gureum/gureum/internal/controller/endpoints"
	"github.com/gureum/gureum/internal/controller/endpointslice"
	"github.com/gureum/gureum/internal/controller/garbagecollector"
	"github.com/gureum/gureum/internal/controller/job"
	"github.com/gureum/gureum/internal/controller/namespace"
	"github.com/gureum/gureum/internal/controller/nodeipam"
	"github.com/gureum/gureum/internal/controller/nodelifecycle"
	"github.com/gureum/gureum/internal/controller/replicaset"
	"github.com/gureum/gureum/internal/controller/resourcequota"
	"github.com/gureum/gureum/internal/controller/rootca"
	ctrlruntime "github.com/gureum/gureum/internal/controller/runtime"
	"github.com/gureum/gureum/internal/controller/serviceaccount"
	"github.com/gureum/gureum/internal/controller/servicelb"
	"github.com/gureum/gureum/internal/controller/statefulset"
	"github.com/gureum/gureum/internal/scheduler"
)

// controlLoops is what the server runs besides the API server: the
// scheduler and every controller, all clients of the API server like any
// other, sharing one informer factory so each resource is watched once.
type controlLoops struct {
	RESTConfig *rest.Config
	Client     kubernetes.Interface
	CACertPEM  []byte
	// TokenSigner fills token Secrets; nil runs no token controller.
	TokenSigner serviceaccount.Signer
	ClusterCIDR *net.IPNet
	LBPool      []string
	// DNS is the cluster DNS server the workload loops include.
	DNS clusterDNS
	// CoreOnly leaves out the scheduler and the workload controllers.
	CoreOnly bool
	Clock    clock.Clock
	Log      *slog.Logger
}

// start launches every loop in g; each runs until ctx ends.
func (c controlLoops) start(ctx context.Context, g *errgroup.Group) error {
	meta, err := metadata.NewForConfig(c.RESTConfig)
	if err != nil {
		return fmt.Errorf("build metadata client: %w", err)
	}
	f := informers.NewSharedInformerFactoryWithOptions(c.Client, 0, informers.WithTransform(ctrlruntime.DropManagedFields))
	named := func(component string) *slog.Logger { return c.Log.With("component", component) }
	loops := []runner{
		serviceaccount.New(c.Client, named("serviceaccount-controller")),
		rootca.New(c.Client, c.CACertPEM, named("rootca-controller")),
		namespace.New(c.Client, meta, c.Clock, named("namespace-controller")),
	}
	if c.TokenSigner != nil {
		loops = append(loops, serviceaccount.NewTokens(c.Client, c.TokenSigner, c.CACertPEM, named("token-controller")))
	}
	if !c.CoreOnly {
		loops = append(loops, c.workloadLoops(f, meta, named)...)
	}
	for _, l := range loops {
		g.Go(func() error { return l.Run(ctx) })
	}
	return nil
}

func (c controlLoops) workloadLoops(f informers.SharedInformerFactory, meta metadata.Interface, named func(string) *slog.Logger) []runner {
	return []runner{
		scheduler.New(c.Client, f, c.Clock, named("scheduler")),
		replicaset.New(c.Client, f, c.Clock, named("replicaset-controller")),
		replicaset.NewReplicationManager(c.Client, f, c.Clock, named("replicationcontroller-controller")),
		deployment.New(c.Client, f, c.Clock, named("deployment-controller")),
		daemonset.New(c.Client, f, c.Clock, named("daemonset-controller")),
		statefulset.New(c.Client, f, c.Clock, named("statefulset-controller")),
		job.New(c.Client, f, c.Clock, named("job-controller")),
		cronjob.New(c.Client, f, c.Clock, named("cronjob-controller")),
		nodeipam.New(c.Client, f, c.Clock, named("nodeipam-controller"), c.ClusterCIDR, nodeipam.DefaultNodeMaskSize),
		nodelifecycle.New(c.Client, f, c.Clock, named("nodelifecycle-controller"), nodelifecycle.Options{}),
		garbagecollector.New(meta, c.Client.Discovery(), c.Clock, named("garbage-collector"), garbagecollector.WithEvents(c.Client)),
		endpointslice.New(c.Client, f, c.Clock, named("endpointslice-controller")),
		endpoints.New(c.Client, f, c.Clock, named("endpoints-controller")),
		servicelb.New(c.Client, f, c.Clock, named("service-lb-controller"), c.LBPool),
		resourcequota.New(c.Client, f, c.Clock, named("resourcequota-controller")),
		disruption.New(c.Client, f, c.Clock, named("disruption-controller")),
		c.DNS,
	}
}

type runner interface{ Run(context.Context) error }
