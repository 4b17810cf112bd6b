package apiserver

// Conversion webhooks for custom resources (spec.conversion.strategy
// Webhook). As in Kubernetes, objects are stored in the CRD's storage
// version and each served version sees them converted by the CRD's
// webhook: a ConversionReview carrying the objects that are not in the
// desired version yet. Reads convert stored objects into the requested
// version (one review per list page, per cache relist and per watch batch);
// writes validate in the requested version and store the webhook's
// conversion to the storage version. A webhook that fails, is unreachable
// or answers malformed makes the request fail with a 500 InternalError
// ("conversion webhook for <group/version, Kind=kind> failed: ..."): data
// is never stored or served unconverted.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensionsv1beta1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1beta1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/util/webhook"
	"k8s.io/client-go/rest"

	"github.com/gureum/gureum/internal/api"
	"github.com/gureum/gureum/internal/store"
)

// conversionTimeout bounds one call of a conversion webhook.
const conversionTimeout = 30 * time.Second

// webhookConverter converts the objects of one CRD (one generation of its
// spec) through its conversion webhook.
type webhookConverter struct {
	group string
	// reviewVersion is the ConversionReview version sent ("v1" or
	// "v1beta1"): the first of conversionReviewVersions we speak.
	reviewVersion string
	client        *rest.RESTClient
	// configErr is why no client could be built; every conversion fails
	// with it, while objects already in the desired version still serve.
	configErr error
	timeout   time.Duration
	// schemas holds each version's structural schema: inputs get their
	// version's defaults (as Kubernetes defaults objects read from etcd)
	// and outputs are pruned to the desired version's fields.
	schemas map[string]*crSchema
}

// conversionFor returns the converter of crd's versions, or nil when the
// CRD converts by apiVersion only.
func (s *Server) conversionFor(crd *apiextensionsv1.CustomResourceDefinition, in *apiextensions.CustomResourceDefinition) (api.Converter, error) {
	conv := crd.Spec.Conversion
	if conv == nil || conv.Strategy != apiextensionsv1.WebhookConverter {
		return nil, nil
	}
	c := &webhookConverter{group: crd.Spec.Group, timeout: conversionTimeout, schemas: map[string]*crSchema{}}
	for _, v := range crd.Spec.Versions {
		sch, err := structuralFor(in, v.Name)
		if err != nil {
			return nil, err
		}
		c.schemas[v.Name] = sch
	}
	if conv.Webhook == nil || conv.Webhook.ClientConfig == nil {
		c.configErr = errors.New("the CRD names no webhook")
		return c, nil
	}
	var err error
	if c.reviewVersion, err = conversionReviewVersion(conv.Webhook.ConversionReviewVersions); err != nil {
		c.configErr = err
		return c, nil
	}
	c.client, c.configErr = newConversionClient(*conv.Webhook.ClientConfig, serviceIPResolver{s})
	return c, nil
}

// structuralFor is the part of a version's schema conversion needs: the
// structural schema for pruning and defaulting.
func structuralFor(crd *apiextensions.CustomResourceDefinition, version string) (*crSchema, error) {
	v, err := apiextensions.GetSchemaForVersion(crd, version)
	if err != nil {
		return nil, fmt.Errorf("schema of version %s: %w", version, err)
	}
	out := &crSchema{preserveUnknown: crd.Spec.PreserveUnknownFields != nil && *crd.Spec.PreserveUnknownFields}
	if v == nil || v.OpenAPIV3Schema == nil {
		out.preserveUnknown = true
		return out, nil
	}
	if p := v.OpenAPIV3Schema.XPreserveUnknownFields; p != nil && *p {
		out.preserveUnknown = true
	}
	if out.structural, err = structuralschema.NewStructural(v.OpenAPIV3Schema); err != nil {
		return nil, fmt.Errorf("structural schema of version %s: %w", version, err)
	}
	return out, nil
}

// conversionReviewVersion picks the first ConversionReview version of the
// CRD's list that the server speaks, as Kubernetes does.
func conversionReviewVersion(versions []string) (string, error) {
	for _, v := range versions {
		if v == apiextensionsv1.SchemeGroupVersion.Version || v == apiextensionsv1beta1.SchemeGroupVersion.Version {
			return v, nil
		}
	}
	return "", fmt.Errorf("no supported conversion review versions in %v (want v1 or v1beta1)", versions)
}

// newConversionClient builds the webhook's HTTP client with the same
// client manager admission webhooks use: caBundle as the only roots, a
// Service reached at its ClusterIP and verified as <name>.<namespace>.svc,
// port 443 unless the CRD says otherwise.
func newConversionClient(cc apiextensionsv1.WebhookClientConfig, resolver webhook.ServiceResolver) (*rest.RESTClient, error) {
	cm, err := webhook.NewClientManager(
		[]schema.GroupVersion{apiextensionsv1.SchemeGroupVersion, apiextensionsv1beta1.SchemeGroupVersion},
		apiextensionsv1.AddToScheme, apiextensionsv1beta1.AddToScheme)
	if err != nil {
		return nil, fmt.Errorf("conversion webhook client manager: %w", err)
	}
	auth, err := webhook.NewDefaultAuthenticationInfoResolver("")
	if err != nil {
		return nil, fmt.Errorf("conversion webhook credentials: %w", err)
	}
	cm.SetAuthenticationInfoResolver(auth)
	cm.SetServiceResolver(resolver)
	cfg := webhook.ClientConfig{Name: "conversion", CABundle: cc.CABundle}
	if cc.URL != nil {
		cfg.URL = *cc.URL
	}
	if svc := cc.Service; svc != nil {
		cfg.Service = &webhook.ClientConfigService{Name: svc.Name, Namespace: svc.Namespace, Port: 443}
		if svc.Port != nil {
			cfg.Service.Port = *svc.Port
		}
		if svc.Path != nil {
			cfg.Service.Path = *svc.Path
		}
	}
	client, err := cm.HookClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("conversion webhook client: %w", err)
	}
	return client, nil
}

// serviceIPResolver sends webhook calls for a Service to its ClusterIP, as
// kube-apiserver does by default (and internal/node's admission resolver
// does); the service proxy carries them to a ready pod.
type serviceIPResolver struct{ s *Server }

func (r serviceIPResolver) ResolveEndpoint(namespace, name string, port int32) (*url.URL, error) {
	var svc *corev1.Service
	if e, ok := r.s.caches[schemaGVR("", "v1", "services")].get(namespace + "/" + name); ok {
		svc, _ = entryAs[*corev1.Service](e)
	}
	ip, err := serviceClusterIP(namespace, name, svc)
	if err != nil {
		return nil, err
	}
	return &url.URL{Scheme: "https", Host: net.JoinHostPort(ip, strconv.Itoa(int(port)))}, nil
}

// serviceClusterIP is where a webhook Service is called: its ClusterIP.
func serviceClusterIP(namespace, name string, svc *corev1.Service) (string, error) {
	if svc == nil {
		return "", fmt.Errorf("webhook service %s/%s does not exist", namespace, name)
	}
	if ip := svc.Spec.ClusterIP; ip != "" && ip != corev1.ClusterIPNone {
		return ip, nil
	}
	return "", fmt.Errorf("webhook service %s/%s has no cluster IP", namespace, name)
}

// Convert sends the objects that are not in toVersion to the webhook in
// one ConversionReview and checks what comes back.
func (c *webhookConverter) Convert(ctx context.Context, objs []*unstructured.Unstructured, toVersion string) ([]*unstructured.Unstructured, error) {
	desired := schema.GroupVersion{Group: c.group, Version: toVersion}.String()
	out := make([]*unstructured.Unstructured, len(objs))
	var send []int
	for i, o := range objs {
		switch {
		case o.GetAPIVersion() == desired:
			out[i] = o
		case isEmptyObject(o):
			// Nothing to convert; Kubernetes does not bother the webhook
			// either.
			cp := o.DeepCopy()
			cp.SetAPIVersion(desired)
			out[i] = cp
		default:
			send = append(send, i)
		}
	}
	if len(send) == 0 {
		return out, nil
	}
	failed := func(err error) error {
		return apierrors.NewInternalError(fmt.Errorf("conversion webhook for %s failed: %w", objs[send[0]].GroupVersionKind(), err))
	}
	if _, ok := c.schemas[toVersion]; !ok {
		return nil, failed(fmt.Errorf("%s is not a version of the CRD", desired))
	}
	if c.configErr != nil {
		return nil, failed(c.configErr)
	}
	inputs := make([]*unstructured.Unstructured, len(send))
	raws := make([]runtime.RawExtension, len(send))
	for j, i := range send {
		in := objs[i].DeepCopy()
		gv, err := schema.ParseGroupVersion(in.GetAPIVersion())
		if err != nil || gv.Group != c.group || c.schemas[gv.Version] == nil {
			return nil, failed(fmt.Errorf("object %s has apiVersion %q, not a version of the CRD", in.GetName(), in.GetAPIVersion()))
		}
		c.schemas[gv.Version].defaults(in)
		data, err := in.MarshalJSON()
		if err != nil {
			return nil, failed(fmt.Errorf("encode %s: %w", in.GetName(), err))
		}
		inputs[j], raws[j] = in, runtime.RawExtension{Raw: data}
	}
	uid := uuid.NewUUID()
	body, err := conversionRequest(c.reviewVersion, uid, desired, raws)
	if err != nil {
		return nil, failed(err)
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	resp, err := c.client.Post().SetHeader("Content-Type", "application/json").Body(body).Do(ctx).Raw()
	if err != nil {
		return nil, failed(err)
	}
	converted, err := conversionResponse(c.reviewVersion, uid, resp)
	if err != nil {
		return nil, failed(err)
	}
	if len(converted) != len(send) {
		return nil, failed(fmt.Errorf("returned %d objects, expected %d", len(converted), len(send)))
	}
	for j, i := range send {
		u, err := checkConverted(inputs[j], converted[j], desired)
		if err != nil {
			return nil, failed(fmt.Errorf("invalid converted object at index %d: %w", j, err))
		}
		// Only the desired version's fields are kept, as Kubernetes prunes
		// a webhook's answer.
		c.schemas[toVersion].prune(u)
		u.SetAPIVersion(desired)
		out[i] = u
	}
	return out, nil
}

// isEmptyObject reports an object with nothing but apiVersion and kind.
func isEmptyObject(u *unstructured.Unstructured) bool {
	_, k := u.Object["kind"]
	_, v := u.Object["apiVersion"]
	return len(u.Object) == 2 && k && v
}

// conversionReview is the wire form of apiextensions.k8s.io/v1 and v1beta1
// ConversionReviews, which have the same shape.
type conversionReview struct {
	metav1.TypeMeta `json:",inline"`
	Request         *apiextensionsv1.ConversionRequest  `json:"request,omitempty"`
	Response        *apiextensionsv1.ConversionResponse `json:"response,omitempty"`
}

// conversionRequest encodes the review sent to the webhook.
func conversionRequest(version string, uid types.UID, desired string, objs []runtime.RawExtension) ([]byte, error) {
	review := conversionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: apiextensionsv1.GroupName + "/" + version, Kind: "ConversionReview"},
		Request:  &apiextensionsv1.ConversionRequest{UID: uid, DesiredAPIVersion: desired, Objects: objs},
	}
	b, err := json.Marshal(review)
	if err != nil {
		return nil, fmt.Errorf("encode ConversionReview: %w", err)
	}
	return b, nil
}

// conversionResponse checks the webhook's answer and returns the converted
// objects. A v1 review must echo kind, apiVersion and uid; a v1beta1 one
// is let off the kind and an empty uid, as Kubernetes lets it off.
func conversionResponse(version string, uid types.UID, body []byte) ([]runtime.RawExtension, error) {
	var review conversionReview
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&review); err != nil {
		return nil, fmt.Errorf("decode ConversionReview: %w", err)
	}
	want := apiextensionsv1.GroupName + "/" + version
	strict := version == apiextensionsv1.SchemeGroupVersion.Version
	if strict && (review.APIVersion != want || review.Kind != "ConversionReview") {
		return nil, fmt.Errorf("expected webhook response of %s, Kind=ConversionReview, got %s, Kind=%s", want, review.APIVersion, review.Kind)
	}
	r := review.Response
	if r == nil {
		return nil, errors.New("no response provided")
	}
	if r.UID != uid && (strict || r.UID != "") {
		return nil, fmt.Errorf("expected response.uid=%q, got %q", uid, r.UID)
	}
	if r.Result.Status != metav1.StatusSuccess {
		if r.Result.Message != "" {
			return nil, errors.New(r.Result.Message)
		}
		return nil, fmt.Errorf("response.result.status was '%s', not 'Success'", r.Result.Status)
	}
	return r.ConvertedObjects, nil
}

// checkConverted decodes one converted object and holds it to Kubernetes'
// rules: the desired apiVersion, the same kind, name, namespace and uid;
// of the metadata only labels and annotations may change, the rest is
// restored from the original.
func checkConverted(original *unstructured.Unstructured, raw runtime.RawExtension, desired string) (*unstructured.Unstructured, error) {
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(raw.Raw); err != nil {
		return nil, err
	}
	if got := u.GetAPIVersion(); got != desired {
		return nil, fmt.Errorf("invalid groupVersion (expected %s, received %s)", desired, got)
	}
	if e, a := original.GetKind(), u.GetKind(); e != a {
		return nil, fmt.Errorf("invalid kind (expected %s, received %s)", e, a)
	}
	if e, a := original.GetName(), u.GetName(); e != a {
		return nil, fmt.Errorf("must have the same name: %s != %s", e, a)
	}
	if e, a := original.GetNamespace(), u.GetNamespace(); e != a {
		return nil, fmt.Errorf("must have the same namespace: %s != %s", e, a)
	}
	if e, a := original.GetUID(), u.GetUID(); e != a {
		return nil, fmt.Errorf("must have the same UID: %s != %s", e, a)
	}
	if err := restoreMetadata(original, u); err != nil {
		return nil, err
	}
	return u, nil
}

// restoreMetadata replaces converted's metadata by original's, keeping
// converted's labels and annotations when they are valid.
func restoreMetadata(original, converted *unstructured.Unstructured) error {
	resp, ok := converted.Object["metadata"].(map[string]interface{})
	if !ok {
		return errors.New("missing metadata in converted object")
	}
	meta := map[string]interface{}{}
	if m, ok := original.Object["metadata"].(map[string]interface{}); ok {
		meta = runtime.DeepCopyJSONValue(m).(map[string]interface{})
	}
	for _, fld := range []string{"labels", "annotations"} {
		v, found := resp[fld]
		if !found || v == nil {
			delete(meta, fld)
			continue
		}
		m, ok := v.(map[string]interface{})
		if !ok {
			return fmt.Errorf("invalid metadata.%s of type %T in converted object", fld, v)
		}
		strs := make(map[string]string, len(m))
		for k, val := range m {
			s, ok := val.(string)
			if !ok {
				return fmt.Errorf("metadata.%s[%s] must be a string, but is %T in converted object", fld, k, val)
			}
			strs[k] = s
		}
		var errs field.ErrorList
		if fld == "labels" {
			errs = metav1validation.ValidateLabels(strs, field.NewPath("metadata", "labels"))
		} else {
			errs = apivalidation.ValidateAnnotations(strs, field.NewPath("metadata", "annotations"))
		}
		if len(errs) > 0 {
			return errs.ToAggregate()
		}
		meta[fld] = m
	}
	converted.Object["metadata"] = meta
	return nil
}

// needsConversion reports whether a stored object of res is in another
// version and res converts by webhook.
func needsConversion(res *api.Resource, data []byte) bool {
	if res.Converter == nil {
		return false
	}
	var tm metav1.TypeMeta
	if err := json.Unmarshal(data, &tm); err != nil {
		return false // decoding reports it
	}
	return tm.APIVersion != res.GroupVersionResource.GroupVersion().String()
}

// convertStoredValues returns values (stored objects of res) with those in
// another version replaced by the webhook's conversion to res's version,
// all in one review. Values that do not decode are left for the decoder to
// report.
func convertStoredValues(ctx context.Context, res *api.Resource, values [][]byte) ([][]byte, error) {
	if res.Converter == nil {
		return values, nil
	}
	var idx []int
	var objs []*unstructured.Unstructured
	for i, v := range values {
		if v == nil || !needsConversion(res, v) {
			continue
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(v); err != nil {
			continue
		}
		idx, objs = append(idx, i), append(objs, u)
	}
	if len(objs) == 0 {
		return values, nil
	}
	converted, err := res.Converter.Convert(ctx, objs, res.GroupVersionResource.Version)
	if err != nil {
		return nil, err
	}
	out := append([][]byte(nil), values...)
	for j, i := range idx {
		data, err := converted[j].MarshalJSON()
		if err != nil {
			return nil, fmt.Errorf("encode converted %s: %w", converted[j].GetName(), err)
		}
		out[i] = data
	}
	return out, nil
}

// convertStoredPage is convertStoredKVs for a page of a list from etcd
// that starts at startKey (a continue token's): what comes before is not
// served, so it is not sent to the webhook either.
func convertStoredPage(ctx context.Context, res *api.Resource, kvs []store.KV, startKey string) ([]store.KV, error) {
	if res.Converter == nil {
		return kvs, nil
	}
	prefix := res.StorageKey() + "/"
	page := kvs[:0:0]
	for _, kv := range kvs {
		if strings.TrimPrefix(kv.Key, prefix) >= startKey {
			page = append(page, kv)
		}
	}
	return convertStoredKVs(ctx, res, page)
}

// decodeStoredContext is decodeStored for a request: the webhook call, if
// any, ends with the request.
func decodeStoredContext(ctx context.Context, res *api.Resource, data []byte) (runtime.Object, error) {
	values, err := convertStoredValues(ctx, res, [][]byte{data})
	if err != nil {
		return nil, err
	}
	return decodeStored(res, values[0])
}

// convertStoredKVs is convertStoredValues for a list read from etcd.
func convertStoredKVs(ctx context.Context, res *api.Resource, kvs []store.KV) ([]store.KV, error) {
	if res.Converter == nil {
		return kvs, nil
	}
	values := make([][]byte, len(kvs))
	for i := range kvs {
		values[i] = kvs[i].Value
	}
	values, err := convertStoredValues(ctx, res, values)
	if err != nil {
		return nil, err
	}
	out := append([]store.KV(nil), kvs...)
	for i := range out {
		out[i].Value = values[i]
	}
	return out, nil
}

// encodeConverted is encodeForStorage for a version other than the
// storage version of a CRD with a conversion webhook: obj (already
// validated in its own version) is stored as the webhook converts it.
// obj then becomes what a read will return, the stored object converted
// back, as Kubernetes answers a write with what it decodes from storage.
// encodeForStorage has no request context; the calls are bounded by the
// webhook timeout.
func encodeConverted(res *api.Resource, obj runtime.Object) ([]byte, error) {
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return nil, fmt.Errorf("encode %s: %T is not a custom resource", res.GroupVersionResource, obj)
	}
	ctx := context.Background()
	in := u.DeepCopy()
	in.SetResourceVersion("")
	in.SetGroupVersionKind(res.GroupVersionKind())
	stored, err := res.Converter.Convert(ctx, []*unstructured.Unstructured{in}, res.StorageVersion)
	if err != nil {
		return nil, err
	}
	data, err := stored[0].MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("encode %s for storage: %w", u.GetName(), err)
	}
	back, err := res.Converter.Convert(ctx, stored, res.GroupVersionResource.Version)
	if err != nil {
		return nil, err
	}
	rv := u.GetResourceVersion()
	u.Object = back[0].Object
	res.Strategy.Default(u)
	u.SetResourceVersion(rv)
	return data, nil
}

// convertsToStorage reports whether writes of res go through the webhook.
func convertsToStorage(res *api.Resource) bool {
	return res.Converter != nil && res.StorageVersion != "" && res.StorageVersion != res.GroupVersionResource.Version
}

// The watch cache of a version converts what it reads from etcd in
// batches: the whole list when it (re)lists, each watch batch as it comes.
// While the webhook fails the cache cannot follow etcd: it serves the
// webhook's error (a 500) to lists, watches and consistent reads instead
// of stale or unconverted objects, and relists with backoff until the
// webhook answers again, as Kubernetes' cacher does.

// convertKVs converts a relist; a failure marks the cache broken.
func (c *resourceCache) convertKVs(ctx context.Context, kvs []store.KV) ([]store.KV, error) {
	out, err := convertStoredKVs(ctx, c.res, kvs)
	if err != nil {
		c.setConversionFailure(err)
		return nil, err
	}
	return out, nil
}

// convertBatch converts the objects of a watch batch (new values and the
// last values of deleted keys); a failure marks the cache broken.
func (c *resourceCache) convertBatch(ctx context.Context, batch store.WatchBatch) (store.WatchBatch, error) {
	if c.res.Converter == nil {
		return batch, nil
	}
	values := make([][]byte, len(batch.Events))
	for i, ev := range batch.Events {
		values[i] = ev.KV.Value
	}
	values, err := convertStoredValues(ctx, c.res, values)
	if err != nil {
		c.setConversionFailure(err)
		return batch, err
	}
	out := store.WatchBatch{Revision: batch.Revision, Events: append([]store.Event(nil), batch.Events...)}
	for i := range out.Events {
		out.Events[i].KV.Value = values[i]
	}
	return out, nil
}

// setConversionFailure records err and wakes whoever waits on the cache,
// which is ready (with an error to give) even if it never listed.
func (c *resourceCache) setConversionFailure(err error) {
	c.mu.Lock()
	c.convErr = err
	c.convFailures++
	close(c.revCh)
	c.revCh = make(chan struct{})
	c.mu.Unlock()
	c.readyOnce.Do(func() { close(c.ready) })
}

// conversionFailure is the webhook error the cache cannot get past, nil
// when it is in step.
func (c *resourceCache) conversionFailure() error {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.convErr
}

// relistDelay is how long Run waits before relisting: a moment normally,
// longer and longer (up to 10s) while a conversion webhook keeps failing.
func (c *resourceCache) relistDelay() time.Duration {
	c.mu.RLock()
	n := c.convFailures
	c.mu.RUnlock()
	return relistBackoff(n)
}

func relistBackoff(failures int) time.Duration {
	d := 100 * time.Millisecond
	for i := 0; i < failures && d < 10*time.Second; i++ {
		d *= 2
	}
	return min(d, 10*time.Second)
}
