package agent

import (
	"fmt"
	"testing"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"
)

// mapSource serves ConfigMaps and Secrets from maps.
type mapSource struct {
	cms  map[string]*v1.ConfigMap
	secs map[string]*v1.Secret
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
