package agent

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"
)

// mapSource serves ConfigMaps and Secrets from maps, and Services from a list.
type mapSource struct {
	cms  map[string]*v1.ConfigMap
	secs map[string]*v1.Secret
	svcs []*v1.Service
	// svcErr fails every Services call.
	svcErr error
}

func (m mapSource) Services(ns string) ([]*v1.Service, error) {
	if m.svcErr != nil {
		return nil, m.svcErr
	}
	var out []*v1.Service
	for _, s := range m.svcs {
		if s.Namespace == ns {
			out = append(out, s)
		}
	}
	return out, nil
}

func (m mapSource) ConfigMap(ns, name string) (*v1.ConfigMap, error) {
	if c, ok := m.cms[ns+"/"+name]; ok {
		return c, nil
	}
	return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "configmaps"}, name)
}

func (m mapSource) Secret(ns, name string) (*v1.Secret, error) {
	if s, ok := m.secs[ns+"/"+name]; ok {
		return s, nil
	}
	return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "secrets"}, name)
}

func TestExpand(t *testing.T) {
	vars := map[string]string{"A": "1", "B": "two", "EMPTY": ""}
	lookup := func(n string) (string, bool) { v, ok := vars[n]; return v, ok }
	cases := map[string]string{
		"plain":          "plain",
		"$(A)":           "1",
		"x$(A)y$(B)z":    "x1ytwoz",
		"$(UNKNOWN)":     "$(UNKNOWN)",
		"$$(A)":          "$(A)",
		"$$":             "$",
		"$":              "$",
		"a$b":            "a$b",
		"$(A":            "$(A",
		"$(EMPTY)x":      "x",
		"$$$(A)":         "$1",
		"$(A)$(B)$(A)":   "1two1",
		"price: $5 $(B)": "price: $5 two",
		"nested $($(A))": "nested $($(A))",
	}
	for in, want := range cases {
		if got := expand(in, lookup); got != want {
			t.Errorf("expand(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestResolveEnv(t *testing.T) {
	src := mapSource{
		cms:  map[string]*v1.ConfigMap{"ns/cfg": {Data: map[string]string{"a": "1", "b": "2"}}},
		secs: map[string]*v1.Secret{"ns/sec": {Data: map[string][]byte{"pw": []byte("s3cret")}}},
	}
	pod := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "u1", Labels: map[string]string{"app": "web"}, Annotations: map[string]string{"note": "hi"}},
		Spec: v1.PodSpec{NodeName: "n1", ServiceAccountName: "sa"}}
	addrs := podAddresses{HostIPs: []string{"192.0.2.1"}, PodIPs: []string{"10.0.0.7", "fd00::7"}}
	cm := func(name, key string, opt *bool) *v1.EnvVarSource {
		return &v1.EnvVarSource{ConfigMapKeyRef: &v1.ConfigMapKeySelector{LocalObjectReference: v1.LocalObjectReference{Name: name}, Key: key, Optional: opt}}
	}
	field := func(p string) *v1.EnvVarSource {
		return &v1.EnvVarSource{FieldRef: &v1.ObjectFieldSelector{FieldPath: p}}
	}
	cases := []struct {
		name    string
		c       v1.Container
		want    string
		wantErr string
	}{
		{name: "values and expansion", c: v1.Container{Env: []v1.EnvVar{{Name: "A", Value: "x"}, {Name: "B", Value: "$(A)-$(C)"}, {Name: "C", Value: "c"}}}, want: "[{A x} {B x-$(C)} {C c}]"},
		{name: "envFrom with prefix then override", c: v1.Container{EnvFrom: []v1.EnvFromSource{{Prefix: "P_", ConfigMapRef: &v1.ConfigMapEnvSource{LocalObjectReference: v1.LocalObjectReference{Name: "cfg"}}}},
			Env: []v1.EnvVar{{Name: "P_a", Value: "over"}}}, want: "[{P_a over} {P_b 2}]"},
		{name: "envFrom secret", c: v1.Container{EnvFrom: []v1.EnvFromSource{{SecretRef: &v1.SecretEnvSource{LocalObjectReference: v1.LocalObjectReference{Name: "sec"}}}}}, want: "[{pw s3cret}]"},
		{name: "optional envFrom missing", c: v1.Container{EnvFrom: []v1.EnvFromSource{{ConfigMapRef: &v1.ConfigMapEnvSource{LocalObjectReference: v1.LocalObjectReference{Name: "nope"}, Optional: ptr.To(true)}}}}, want: "[]"},
		{name: "missing envFrom", c: v1.Container{EnvFrom: []v1.EnvFromSource{{ConfigMapRef: &v1.ConfigMapEnvSource{LocalObjectReference: v1.LocalObjectReference{Name: "nope"}}}}}, wantErr: `configmap "nope" not found`},
		{name: "key refs", c: v1.Container{Env: []v1.EnvVar{{Name: "A", ValueFrom: cm("cfg", "a", nil)},
			{Name: "S", ValueFrom: &v1.EnvVarSource{SecretKeyRef: &v1.SecretKeySelector{LocalObjectReference: v1.LocalObjectReference{Name: "sec"}, Key: "pw"}}}}}, want: "[{A 1} {S s3cret}]"},
		{name: "optional missing key skipped", c: v1.Container{Env: []v1.EnvVar{{Name: "A", ValueFrom: cm("cfg", "zzz", ptr.To(true))}, {Name: "B", ValueFrom: cm("none", "a", ptr.To(true))}}}, want: "[]"},
		{name: "missing key", c: v1.Container{Env: []v1.EnvVar{{Name: "A", ValueFrom: cm("cfg", "zzz", nil)}}}, wantErr: "couldn't find key zzz in ConfigMap ns/cfg"},
		{name: "missing secret", c: v1.Container{Env: []v1.EnvVar{{Name: "A", ValueFrom: &v1.EnvVarSource{SecretKeyRef: &v1.SecretKeySelector{LocalObjectReference: v1.LocalObjectReference{Name: "x"}, Key: "k"}}}}}, wantErr: `secret "x" not found`},
		{name: "field refs", c: v1.Container{Env: []v1.EnvVar{
			{Name: "N", ValueFrom: field("metadata.name")}, {Name: "NS", ValueFrom: field("metadata.namespace")}, {Name: "U", ValueFrom: field("metadata.uid")},
			{Name: "L", ValueFrom: field("metadata.labels['app']")}, {Name: "AN", ValueFrom: field("metadata.annotations['note']")},
			{Name: "NODE", ValueFrom: field("spec.nodeName")}, {Name: "SA", ValueFrom: field("spec.serviceAccountName")},
			{Name: "H", ValueFrom: field("status.hostIP")}, {Name: "P", ValueFrom: field("status.podIP")}, {Name: "PS", ValueFrom: field("status.podIPs")},
			{Name: "E", Value: "$(N).$(NS)"}}},
			want: "[{N p} {NS ns} {U u1} {L web} {AN hi} {NODE n1} {SA sa} {H 192.0.2.1} {P 10.0.0.7} {PS 10.0.0.7,fd00::7} {E p.ns}]"},
		{name: "resource refs", c: v1.Container{Name: "app", Resources: v1.ResourceRequirements{
			Limits: v1.ResourceList{v1.ResourceCPU: resource.MustParse("1500m"), v1.ResourceMemory: resource.MustParse("256Mi")}},
			Env: []v1.EnvVar{
				{Name: "CPU", ValueFrom: &v1.EnvVarSource{ResourceFieldRef: &v1.ResourceFieldSelector{Resource: "limits.cpu"}}},
				{Name: "MEM", ValueFrom: &v1.EnvVarSource{ResourceFieldRef: &v1.ResourceFieldSelector{Resource: "limits.memory", Divisor: resource.MustParse("1Mi")}}},
				{Name: "REQ", ValueFrom: &v1.EnvVarSource{ResourceFieldRef: &v1.ResourceFieldSelector{Resource: "requests.cpu"}}}}},
			want: "[{CPU 2} {MEM 256} {REQ 0}]"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := pod.DeepCopy()
			p.Spec.Containers = []v1.Container{tc.c}
			env, err := resolveEnv(p, &p.Spec.Containers[0], src, addrs)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := fmt.Sprint(env); got != tc.want && !(tc.want == "[]" && len(env) == 0) {
				t.Errorf("env = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestExpandCommand(t *testing.T) {
	c := &v1.Container{Command: []string{"/bin/$(BIN)"}, Args: []string{"--port=$(PORT)", "$$(PORT)", "$(NOPE)"}}
	cmd, args := expandCommand(c, []envVar{{"BIN", "server"}, {"PORT", "80"}})
	if fmt.Sprint(cmd, args) != "[/bin/server] [--port=80 $(PORT) $(NOPE)]" {
		t.Fatalf("got %v %v", cmd, args)
	}
}

func svc(ns, name, clusterIP string, ports ...v1.ServicePort) *v1.Service {
	return &v1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: v1.ServiceSpec{ClusterIP: clusterIP, Ports: ports}}
}

// envString renders variables one per line, for readable diffs.
func envString(env []envVar) string {
	var b strings.Builder
	for _, e := range env {
		b.WriteString(e.Name + "=" + e.Value + "\n")
	}
	return b.String()
}

func TestServiceEnv(t *testing.T) {
	master := svc("default", "kubernetes", "10.96.0.1", v1.ServicePort{Name: "https", Port: 443, Protocol: v1.ProtocolTCP})
	const masterVars = `KUBERNETES_SERVICE_HOST=10.96.0.1
KUBERNETES_SERVICE_PORT=443
KUBERNETES_SERVICE_PORT_HTTPS=443
KUBERNETES_PORT=tcp://10.96.0.1:443
KUBERNETES_PORT_443_TCP=tcp://10.96.0.1:443
KUBERNETES_PORT_443_TCP_PROTO=tcp
KUBERNETES_PORT_443_TCP_PORT=443
KUBERNETES_PORT_443_TCP_ADDR=10.96.0.1
`
	web := svc("app", "my-web", "10.96.0.20",
		v1.ServicePort{Port: 80}, // unnamed first port, no protocol: TCP
		v1.ServicePort{Name: "metrics-port", Port: 9090, Protocol: v1.ProtocolTCP},
		v1.ServicePort{Name: "dns", Port: 53, Protocol: v1.ProtocolUDP})
	const webVars = `MY_WEB_SERVICE_HOST=10.96.0.20
MY_WEB_SERVICE_PORT=80
MY_WEB_SERVICE_PORT_METRICS_PORT=9090
MY_WEB_SERVICE_PORT_DNS=53
MY_WEB_PORT=tcp://10.96.0.20:80
MY_WEB_PORT_80_TCP=tcp://10.96.0.20:80
MY_WEB_PORT_80_TCP_PROTO=tcp
MY_WEB_PORT_80_TCP_PORT=80
MY_WEB_PORT_80_TCP_ADDR=10.96.0.20
MY_WEB_PORT_9090_TCP=tcp://10.96.0.20:9090
MY_WEB_PORT_9090_TCP_PROTO=tcp
MY_WEB_PORT_9090_TCP_PORT=9090
MY_WEB_PORT_9090_TCP_ADDR=10.96.0.20
MY_WEB_PORT_53_UDP=udp://10.96.0.20:53
MY_WEB_PORT_53_UDP_PROTO=udp
MY_WEB_PORT_53_UDP_PORT=53
MY_WEB_PORT_53_UDP_ADDR=10.96.0.20
`
	pod := func(ns string, links *bool) *v1.Pod {
		return &v1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "p"}, Spec: v1.PodSpec{EnableServiceLinks: links}}
	}
	cases := []struct {
		name     string
		services []*v1.Service
		pod      *v1.Pod
		want     string
	}{
		{name: "no services", pod: pod("app", nil), want: ""},
		{name: "master service in every namespace", services: []*v1.Service{master}, pod: pod("app", nil), want: masterVars},
		{name: "master service in default", services: []*v1.Service{master}, pod: pod("default", nil), want: masterVars},
		{name: "own namespace services, sorted by name", services: []*v1.Service{web, master}, pod: pod("app", nil), want: masterVars + webVars},
		{name: "enableServiceLinks true", services: []*v1.Service{web, master}, pod: pod("app", ptr.To(true)), want: masterVars + webVars},
		{name: "enableServiceLinks false keeps the master service", services: []*v1.Service{web, master}, pod: pod("app", ptr.To(false)), want: masterVars},
		{name: "enableServiceLinks false in default keeps only the master service",
			services: []*v1.Service{master, svc("default", "db", "10.96.0.5", v1.ServicePort{Port: 5432})}, pod: pod("default", ptr.To(false)), want: masterVars},
		{name: "other namespaces ignored", services: []*v1.Service{web, svc("default", "db", "10.96.0.5", v1.ServicePort{Port: 5432})}, pod: pod("other", nil), want: ""},
		{name: "headless and ExternalName ignored", services: []*v1.Service{
			svc("app", "headless", v1.ClusterIPNone, v1.ServicePort{Port: 80}),
			svc("app", "external", "", v1.ServicePort{Port: 80}),
			svc("default", "kubernetes", "", v1.ServicePort{Port: 443})}, pod: pod("app", nil), want: ""},
		{name: "own kubernetes service replaces the master one", services: []*v1.Service{master, svc("app", "kubernetes", "10.96.0.9", v1.ServicePort{Port: 8443})}, pod: pod("app", nil),
			want: "KUBERNETES_SERVICE_HOST=10.96.0.9\nKUBERNETES_SERVICE_PORT=8443\nKUBERNETES_PORT=tcp://10.96.0.9:8443\nKUBERNETES_PORT_8443_TCP=tcp://10.96.0.9:8443\n" +
				"KUBERNETES_PORT_8443_TCP_PROTO=tcp\nKUBERNETES_PORT_8443_TCP_PORT=8443\nKUBERNETES_PORT_8443_TCP_ADDR=10.96.0.9\n"},
		{name: "own kubernetes service listed first still wins", services: []*v1.Service{svc("app", "kubernetes", "10.96.0.9"), master}, pod: pod("app", nil),
			want: "KUBERNETES_SERVICE_HOST=10.96.0.9\n"},
		{name: "IPv6 bracketed in URLs only", services: []*v1.Service{svc("app", "v6", "fd00:96::20", v1.ServicePort{Name: "http", Port: 80, Protocol: v1.ProtocolSCTP})}, pod: pod("app", nil),
			want: "V6_SERVICE_HOST=fd00:96::20\nV6_SERVICE_PORT=80\nV6_SERVICE_PORT_HTTP=80\nV6_PORT=sctp://[fd00:96::20]:80\nV6_PORT_80_SCTP=sctp://[fd00:96::20]:80\n" +
				"V6_PORT_80_SCTP_PROTO=sctp\nV6_PORT_80_SCTP_PORT=80\nV6_PORT_80_SCTP_ADDR=fd00:96::20\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := envString(serviceEnv(tc.services, tc.pod)); got != tc.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, tc.want)
			}
		})
	}
}

func TestResolveEnvWithServices(t *testing.T) {
	src := mapSource{
		cms: map[string]*v1.ConfigMap{"app/cfg": {Data: map[string]string{"MY_WEB_SERVICE_PORT": "from-configmap"}}},
		svcs: []*v1.Service{
			svc("default", "kubernetes", "10.96.0.1", v1.ServicePort{Name: "https", Port: 443}),
			svc("app", "my-web", "10.96.0.20", v1.ServicePort{Port: 80}),
			svc("other", "elsewhere", "10.96.0.30", v1.ServicePort{Port: 80}),
		},
	}
	pod := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "app"}}
	c := v1.Container{
		EnvFrom: []v1.EnvFromSource{{ConfigMapRef: &v1.ConfigMapEnvSource{LocalObjectReference: v1.LocalObjectReference{Name: "cfg"}}}},
		Env: []v1.EnvVar{
			{Name: "KUBERNETES_SERVICE_HOST", Value: "override"},
			{Name: "URL", Value: "http://$(MY_WEB_SERVICE_HOST):$(MY_WEB_SERVICE_PORT)/ $(ELSEWHERE_SERVICE_HOST)"},
			{Name: "API", Value: "$(KUBERNETES_SERVICE_HOST):$(KUBERNETES_SERVICE_PORT)"},
		},
		Command: []string{"/bin/client", "--server=$(MY_WEB_PORT)"},
		Args:    []string{"$(KUBERNETES_PORT_443_TCP_ADDR)"},
	}
	env, err := resolveEnv(pod, &c, src, podAddresses{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, e := range env {
		if _, dup := got[e.Name]; dup {
			t.Errorf("variable %s appears twice", e.Name)
		}
		got[e.Name] = e.Value
	}
	want := map[string]string{
		"KUBERNETES_SERVICE_HOST": "override", // env overrides service variables
		"KUBERNETES_SERVICE_PORT": "443",
		"MY_WEB_SERVICE_HOST":     "10.96.0.20",
		"MY_WEB_SERVICE_PORT":     "from-configmap", // so does envFrom
		"URL":                     "http://10.96.0.20:from-configmap/ $(ELSEWHERE_SERVICE_HOST)",
		"API":                     "override:443",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	if _, ok := got["ELSEWHERE_SERVICE_HOST"]; ok {
		t.Error("a Service of another namespace produced variables")
	}
	// Service variables come first, the container's own after them.
	if env[0].Name != "KUBERNETES_SERVICE_HOST" || env[len(env)-1].Name != "API" {
		t.Errorf("order: first %s, last %s", env[0].Name, env[len(env)-1].Name)
	}
	cmd, args := expandCommand(&c, env)
	if fmt.Sprint(cmd, args) != "[/bin/client --server=tcp://10.96.0.20:80] [10.96.0.1]" {
		t.Errorf("command = %v %v", cmd, args)
	}

	pod.Spec.EnableServiceLinks = ptr.To(false)
	env, err = resolveEnv(pod, &v1.Container{}, src, podAddresses{})
	if err != nil {
		t.Fatal(err)
	}
	if s := envString(env); !strings.Contains(s, "KUBERNETES_SERVICE_HOST=10.96.0.1\n") || strings.Contains(s, "MY_WEB") {
		t.Errorf("enableServiceLinks=false env:\n%s", s)
	}

	src.svcErr = errors.New("cache gone")
	if _, err := resolveEnv(pod, &v1.Container{}, src, podAddresses{}); err == nil || !strings.Contains(err.Error(), "list services for environment variables: cache gone") {
		t.Errorf("err = %v", err)
	}
}
