package node

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/apiserver/pkg/admission/plugin/policy/validating"
	"k8s.io/apiserver/pkg/admission/plugin/webhook/mutating"
	webhookvalidating "k8s.io/apiserver/pkg/admission/plugin/webhook/validating"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"

	"github.com/gureum/gureum/internal/apiserver"
)

// startAdmission builds Kubernetes' ValidatingAdmissionPolicy plugin and
// its webhook dispatchers on a client of the server, waits until they have
// read the policies and webhook configurations, and installs them. They
// run until ctx ends.
func startAdmission(ctx context.Context, srv *apiserver.Server, cfg *rest.Config, log *slog.Logger) error {
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("admission client: %w", err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("admission dynamic client: %w", err)
	}
	f := informers.NewSharedInformerFactory(client, 0)
	// Policies name resources by group and resource; discovery (custom
	// resources included) maps them to kinds. The deferred mapper
	// rediscovers when it meets a name it does not know.
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(client.Discovery()))

	policies := validating.NewPlugin(nil)
	policies.SetExternalKubeInformerFactory(f)
	policies.SetExternalKubeClientSet(client)
	policies.SetDynamicClient(dyn)
	policies.SetRESTMapper(mapper)
	policies.SetAuthorizer(srv.Authorizer())
	policies.SetDrainedNotification(ctx.Done())
	// As in Kubernetes, policies cannot lock out the objects that would
	// repair them.
	policies.SetExcludedAdmissionResources([]schema.GroupResource{
		{Group: "admissionregistration.k8s.io", Resource: "validatingadmissionpolicies"},
		{Group: "admissionregistration.k8s.io", Resource: "validatingadmissionpolicybindings"},
	})
	if err := policies.ValidateInitialization(); err != nil {
		return fmt.Errorf("validating admission policy plugin: %w", err)
	}

	services := f.Core().V1().Services().Lister()
	resolver := clusterIPResolver{services: services}
	mutatingHooks, err := mutating.NewMutatingWebhook(nil)
	if err != nil {
		return fmt.Errorf("mutating webhook plugin: %w", err)
	}
	validatingHooks, err := webhookvalidating.NewValidatingAdmissionWebhook(nil)
	if err != nil {
		return fmt.Errorf("validating webhook plugin: %w", err)
	}
	mutatingHooks.SetExternalKubeClientSet(client)
	mutatingHooks.SetExternalKubeInformerFactory(f)
	mutatingHooks.SetServiceResolver(resolver)
	mutatingHooks.SetAuthorizer(srv.Authorizer())
	validatingHooks.SetExternalKubeClientSet(client)
	validatingHooks.SetExternalKubeInformerFactory(f)
	validatingHooks.SetServiceResolver(resolver)
	validatingHooks.SetAuthorizer(srv.Authorizer())
	if err := mutatingHooks.ValidateInitialization(); err != nil {
		return fmt.Errorf("mutating webhook plugin: %w", err)
	}
	if err := validatingHooks.ValidateInitialization(); err != nil {
		return fmt.Errorf("validating webhook plugin: %w", err)
	}

	f.Start(ctx.Done())
	for typ, ok := range f.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return fmt.Errorf("admission: informer for %v did not sync", typ)
		}
	}
	srv.SetAdmission(apiserver.AdmissionPlugins{
		Mutating:   []admission.MutationInterface{mutatingHooks},
		Validating: []admission.ValidationInterface{policies, validatingHooks},
	})
	log.Info("admission plugins installed", "plugins", "ValidatingAdmissionPolicy,MutatingAdmissionWebhook,ValidatingAdmissionWebhook")
	return nil
}

// clusterIPResolver sends webhook calls to a Service's ClusterIP, as
// kube-apiserver does by default; the service proxy on this machine
// carries them to a ready pod. TLS is still verified against the
// Service's DNS name (<name>.<namespace>.svc).
type clusterIPResolver struct {
	services corelisters.ServiceLister
}

func (r clusterIPResolver) ResolveEndpoint(namespace, name string, port int32) (*url.URL, error) {
	svc, err := r.services.Services(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("webhook service %s/%s does not exist", namespace, name)
	}
	if err != nil {
		return nil, err
	}
	if svc.Spec.ClusterIP == "" || svc.Spec.ClusterIP == "None" {
		return nil, fmt.Errorf("webhook service %s/%s has no cluster IP; give it one", namespace, name)
	}
	return &url.URL{Scheme: "https", Host: net.JoinHostPort(svc.Spec.ClusterIP, strconv.Itoa(int(port)))}, nil
}
