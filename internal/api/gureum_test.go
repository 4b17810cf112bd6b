package api

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	networkingv1 "github.com/gureum/gureum/pkg/apis/networking/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func gureumResource(t *testing.T, resource string) *Resource {
	t.Helper()
	gvr := networkingv1.SchemeGroupVersion.WithResource(resource)
	res, ok := NewRegistry(DefaultResources()).Lookup(gvr)
	if !ok {
		t.Fatalf("%s is not served", gvr)
	}
	return res
}

func gureumVPC(mutate func(*networkingv1.VPC)) *networkingv1.VPC {
	vpc := &networkingv1.VPC{
		ObjectMeta: metav1.ObjectMeta{Name: "payments"},
		Spec: networkingv1.VPCSpec{
			CIDRBlock:         "10.100.0.0/16",
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": "payments"}},
			Peerings:          []string{"shared"},
			EnableNATGateway:  true,
		},
	}
	if mutate != nil {
		mutate(vpc)
	}
	return vpc
}

func gureumSubnet(mutate func(*networkingv1.Subnet)) *networkingv1.Subnet {
	sn := &networkingv1.Subnet{
		ObjectMeta: metav1.ObjectMeta{Name: "payments-a"},
		Spec: networkingv1.SubnetSpec{
			VPCName:    "payments",
			CIDRBlock:  "10.100.1.0/24",
			Zone:       "zone-a",
			Namespaces: []string{"checkout"},
		},
	}
	if mutate != nil {
		mutate(sn)
	}
	return sn
}

// gureumErrorFields renders errors as "type field" strings, sorted as found.
func gureumErrorFields(errs field.ErrorList) []string {
	var out []string
	for _, e := range errs {
		out = append(out, string(e.Type)+" "+e.Field)
	}
	return out
}

func TestGureumSchemeRecognisesNetworkingV1(t *testing.T) {
	for _, kind := range []string{"VPC", "VPCList", "Subnet", "SubnetList"} {
		gvk := networkingv1.SchemeGroupVersion.WithKind(kind)
		if !Scheme.Recognizes(gvk) {
			t.Errorf("Scheme does not recognise %s", gvk)
		}
	}
	gvks, _, err := Scheme.ObjectKinds(&networkingv1.VPC{})
	if err != nil || len(gvks) != 1 || gvks[0] != networkingv1.SchemeGroupVersion.WithKind("VPC") {
		t.Errorf("ObjectKinds(VPC) = %v, %v", gvks, err)
	}
	if !Scheme.IsVersionRegistered(schema.GroupVersion{Group: "networking.gureum.io", Version: "v1"}) {
		t.Error("networking.gureum.io/v1 is not registered")
	}
	// A fresh scheme built from extraSchemeBuilders has the group too.
	if !newScheme().IsGroupRegistered(networkingv1.GroupName) {
		t.Error("extraSchemeBuilders does not add networking.gureum.io")
	}
}

func TestGureumJSONRoundTrip(t *testing.T) {
	created := metav1.NewTime(time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC))
	objs := []runtime.Object{
		gureumVPC(func(v *networkingv1.VPC) {
			v.CreationTimestamp = created
			v.Status = networkingv1.VPCStatus{ObservedGeneration: 2, SubnetCount: 3, Conditions: []metav1.Condition{{
				Type: networkingv1.ConditionReady, Status: metav1.ConditionTrue, Reason: "Programmed",
				LastTransitionTime: created, ObservedGeneration: 2}}}
		}),
		gureumSubnet(func(s *networkingv1.Subnet) {
			s.Status = networkingv1.SubnetStatus{AvailableIPs: 250, UsedIPs: 3}
		}),
		&networkingv1.VPCList{Items: []networkingv1.VPC{*gureumVPC(nil)}},
		&networkingv1.SubnetList{Items: []networkingv1.Subnet{*gureumSubnet(nil)}},
	}
	codec := Codecs.LegacyCodec(networkingv1.SchemeGroupVersion)
	for _, obj := range objs {
		data, err := runtime.Encode(codec, obj)
		if err != nil {
			t.Fatalf("encode %T: %v", obj, err)
		}
		var head struct{ APIVersion, Kind string }
		if err := json.Unmarshal(data, &head); err != nil {
			t.Fatal(err)
		}
		if head.APIVersion != "networking.gureum.io/v1" || head.Kind != reflect.TypeOf(obj).Elem().Name() {
			t.Errorf("%T encoded as %s %s", obj, head.APIVersion, head.Kind)
		}
		got, err := runtime.Decode(Codecs.UniversalDecoder(networkingv1.SchemeGroupVersion), data)
		if err != nil {
			t.Fatalf("decode %T: %v\n%s", obj, err, data)
		}
		want := obj.DeepCopyObject()
		want.GetObjectKind().SetGroupVersionKind(schema.GroupVersionKind{})
		got.GetObjectKind().SetGroupVersionKind(schema.GroupVersionKind{})
		if !apiequality.Semantic.DeepEqual(got, want) {
			t.Errorf("round trip of %T changed it:\n got %#v\nwant %#v", obj, got, want)
		}
	}

	// What a user writes decodes into the typed object.
	manifest := `{"apiVersion":"networking.gureum.io/v1","kind":"VPC","metadata":{"name":"payments"},
		"spec":{"cidrBlock":"10.100.0.0/16","namespaceSelector":{"matchLabels":{"team":"payments"}},
		"peerings":["shared"],"enableNATGateway":true}}`
	obj, gvk, err := Codecs.UniversalDeserializer().Decode([]byte(manifest), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	vpc, ok := obj.(*networkingv1.VPC)
	if !ok || gvk.Kind != "VPC" || gvk.Group != networkingv1.GroupName {
		t.Fatalf("decoded %T as %v", obj, gvk)
	}
	vpc.TypeMeta = metav1.TypeMeta{}
	if want := gureumVPC(nil); !reflect.DeepEqual(vpc, want) {
		t.Errorf("decoded %#v, want %#v", vpc, want)
	}
}

func TestGureumResources(t *testing.T) {
	for _, tc := range []struct {
		resource, kind, singular string
		short                    []string
	}{
		{"vpcs", "VPC", "vpc", nil},
		{"subnets", "Subnet", "subnet", []string{"sn"}},
	} {
		res := gureumResource(t, tc.resource)
		if res.Kind != tc.kind || res.Singular != tc.singular || res.Namespaced ||
			!reflect.DeepEqual(res.ShortNames, tc.short) || !reflect.DeepEqual(res.Categories, []string{"gureum"}) {
			t.Errorf("%s: got %+v", tc.resource, res)
		}
		if !res.HasSubresource("status") {
			t.Errorf("%s has no status subresource", tc.resource)
		}
		if !reflect.DeepEqual(res.Verbs, verbsAll) {
			t.Errorf("%s verbs = %v", tc.resource, res.Verbs)
		}
		if res.StorageKey() != "/registry/networking.gureum.io/"+tc.resource {
			t.Errorf("%s storage key %s", tc.resource, res.StorageKey())
		}
		if _, ok := res.New().(runtime.Object); !ok {
			t.Errorf("%s New", tc.resource)
		}
		if got := reflect.TypeOf(res.NewList()).Elem().Name(); got != tc.kind+"List" {
			t.Errorf("%s NewList is %s", tc.resource, got)
		}
		if res.Strategy.Validate == nil || res.Strategy.Row == nil || len(res.Strategy.Columns) == 0 {
			t.Errorf("%s has no strategy", tc.resource)
		}
	}

	// Names kubectl resolves must not collide with any other resource's.
	owner := map[string]schema.GroupVersionResource{}
	for _, res := range DefaultResources() {
		names := append([]string{res.GroupVersionResource.Resource, res.Singular}, res.ShortNames...)
		for _, n := range names {
			if prev, ok := owner[n]; ok && prev.GroupResource() != res.GroupVersionResource.GroupResource() &&
				(prev.Group == networkingv1.GroupName || res.GroupVersionResource.Group == networkingv1.GroupName) {
				t.Errorf("name %q used by %s and %s", n, prev, res.GroupVersionResource)
			}
			owner[n] = res.GroupVersionResource
		}
	}
}

func TestGureumVPCValidate(t *testing.T) {
	strategy := gureumResource(t, "vpcs").Strategy
	for _, tc := range []struct {
		name   string
		mutate func(*networkingv1.VPC)
		want   []string
	}{
		{"valid", nil, nil},
		{"minimal", func(v *networkingv1.VPC) { v.Spec = networkingv1.VPCSpec{CIDRBlock: "10.0.0.0/8"} }, nil},
		{"smallest", func(v *networkingv1.VPC) { v.Spec.CIDRBlock = "192.168.0.16/28" }, nil},
		{"name not a DNS label", func(v *networkingv1.VPC) { v.Name = "pay.ments" }, []string{"FieldValueInvalid metadata.name"}},
		{"namespaced", func(v *networkingv1.VPC) { v.Namespace = "default" }, []string{"FieldValueForbidden metadata.namespace"}},
		{"cidr missing", func(v *networkingv1.VPC) { v.Spec.CIDRBlock = "" }, []string{"FieldValueRequired spec.cidrBlock"}},
		{"cidr garbage", func(v *networkingv1.VPC) { v.Spec.CIDRBlock = "10.100.0.0" }, []string{"FieldValueInvalid spec.cidrBlock"}},
		{"cidr IPv6", func(v *networkingv1.VPC) { v.Spec.CIDRBlock = "fd00::/64" }, []string{"FieldValueInvalid spec.cidrBlock"}},
		{"cidr IPv4-mapped", func(v *networkingv1.VPC) { v.Spec.CIDRBlock = "::ffff:10.0.0.0/104" }, []string{"FieldValueInvalid spec.cidrBlock"}},
		{"cidr too large", func(v *networkingv1.VPC) { v.Spec.CIDRBlock = "10.0.0.0/7" }, []string{"FieldValueInvalid spec.cidrBlock"}},
		{"cidr too small", func(v *networkingv1.VPC) { v.Spec.CIDRBlock = "10.0.0.0/29" }, []string{"FieldValueInvalid spec.cidrBlock"}},
		{"cidr host bits", func(v *networkingv1.VPC) { v.Spec.CIDRBlock = "10.100.0.1/16" }, []string{"FieldValueInvalid spec.cidrBlock"}},
		{"bad selector", func(v *networkingv1.VPC) {
			v.Spec.NamespaceSelector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
				{Key: "team", Operator: metav1.LabelSelectorOpIn}}}
		}, []string{"FieldValueRequired spec.namespaceSelector.matchExpressions[0].values"}},
		{"empty selector selects all", func(v *networkingv1.VPC) { v.Spec.NamespaceSelector = &metav1.LabelSelector{} }, nil},
		{"peer with itself", func(v *networkingv1.VPC) { v.Spec.Peerings = []string{"shared", "payments"} },
			[]string{"FieldValueInvalid spec.peerings[1]"}},
		{"peer duplicate", func(v *networkingv1.VPC) { v.Spec.Peerings = []string{"shared", "shared"} },
			[]string{"FieldValueDuplicate spec.peerings[1]"}},
		{"peer bad name", func(v *networkingv1.VPC) { v.Spec.Peerings = []string{"Shared"} },
			[]string{"FieldValueInvalid spec.peerings[0]"}},
		{"negative status", func(v *networkingv1.VPC) { v.Status.SubnetCount = -1 },
			[]string{"FieldValueInvalid status.subnetCount"}},
		{"bad condition", func(v *networkingv1.VPC) {
			v.Status.Conditions = []metav1.Condition{{Type: "Ready", Status: "Maybe", Reason: "X", LastTransitionTime: metav1.Now()}}
		}, []string{"FieldValueNotSupported status.conditions[0].status"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := gureumErrorFields(strategy.Validate(gureumVPC(tc.mutate)))
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("errors = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestGureumSubnetValidate(t *testing.T) {
	strategy := gureumResource(t, "subnets").Strategy
	for _, tc := range []struct {
		name   string
		mutate func(*networkingv1.Subnet)
		want   []string
	}{
		{"valid", nil, nil},
		{"minimal", func(s *networkingv1.Subnet) {
			s.Spec = networkingv1.SubnetSpec{VPCName: "payments", CIDRBlock: "10.100.2.0/28"}
		}, nil},
		{"on a node", func(s *networkingv1.Subnet) { s.Spec.NodeName = "worker-1.example.com" }, nil},
		{"name not a DNS label", func(s *networkingv1.Subnet) { s.Name = "a_b" }, []string{"FieldValueInvalid metadata.name"}},
		{"vpcName missing", func(s *networkingv1.Subnet) { s.Spec.VPCName = "" }, []string{"FieldValueRequired spec.vpcName"}},
		{"vpcName bad", func(s *networkingv1.Subnet) { s.Spec.VPCName = "Payments" }, []string{"FieldValueInvalid spec.vpcName"}},
		{"cidr missing", func(s *networkingv1.Subnet) { s.Spec.CIDRBlock = "" }, []string{"FieldValueRequired spec.cidrBlock"}},
		{"cidr host bits", func(s *networkingv1.Subnet) { s.Spec.CIDRBlock = "10.100.1.7/24" }, []string{"FieldValueInvalid spec.cidrBlock"}},
		{"cidr /32", func(s *networkingv1.Subnet) { s.Spec.CIDRBlock = "10.100.1.7/32" }, []string{"FieldValueInvalid spec.cidrBlock"}},
		{"zone bad", func(s *networkingv1.Subnet) { s.Spec.Zone = "zone a" }, []string{"FieldValueInvalid spec.zone"}},
		{"node bad", func(s *networkingv1.Subnet) { s.Spec.NodeName = "Worker_1" }, []string{"FieldValueInvalid spec.nodeName"}},
		{"namespace bad", func(s *networkingv1.Subnet) { s.Spec.Namespaces = []string{"ok", "Not-OK"} },
			[]string{"FieldValueInvalid spec.namespaces[1]"}},
		{"namespace duplicate", func(s *networkingv1.Subnet) { s.Spec.Namespaces = []string{"a", "b", "a"} },
			[]string{"FieldValueDuplicate spec.namespaces[2]"}},
		{"negative status", func(s *networkingv1.Subnet) { s.Status.AvailableIPs, s.Status.UsedIPs = -1, -2 },
			[]string{"FieldValueInvalid status.availableIPs", "FieldValueInvalid status.usedIPs"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := gureumErrorFields(strategy.Validate(gureumSubnet(tc.mutate)))
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("errors = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestGureumValidateUpdate(t *testing.T) {
	vpcs, subnets := gureumResource(t, "vpcs").Strategy, gureumResource(t, "subnets").Strategy
	for _, tc := range []struct {
		name     string
		strategy Strategy
		old, obj runtime.Object
		want     []string
	}{
		{"vpc spec change", vpcs, gureumVPC(nil), gureumVPC(func(v *networkingv1.VPC) {
			v.Spec.Peerings, v.Spec.EnableNATGateway = nil, false
		}), nil},
		{"vpc cidr", vpcs, gureumVPC(nil), gureumVPC(func(v *networkingv1.VPC) { v.Spec.CIDRBlock = "10.101.0.0/16" }),
			[]string{"FieldValueInvalid spec.cidrBlock"}},
		{"vpc new object still validated", vpcs, gureumVPC(nil), gureumVPC(func(v *networkingv1.VPC) { v.Spec.Peerings = []string{"payments"} }),
			[]string{"FieldValueInvalid spec.peerings[0]"}},
		{"subnet namespaces", subnets, gureumSubnet(nil), gureumSubnet(func(s *networkingv1.Subnet) {
			s.Spec.Namespaces = append(s.Spec.Namespaces, "refunds")
		}), nil},
		{"subnet cidr", subnets, gureumSubnet(nil), gureumSubnet(func(s *networkingv1.Subnet) { s.Spec.CIDRBlock = "10.100.2.0/24" }),
			[]string{"FieldValueInvalid spec.cidrBlock"}},
		{"subnet vpc", subnets, gureumSubnet(nil), gureumSubnet(func(s *networkingv1.Subnet) { s.Spec.VPCName = "other" }),
			[]string{"FieldValueInvalid spec.vpcName"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := gureumErrorFields(tc.strategy.ValidateUpdate(tc.obj, tc.old))
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("errors = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestGureumDefault(t *testing.T) {
	subnets := gureumResource(t, "subnets").Strategy
	for _, tc := range []struct {
		name   string
		labels map[string]string
		vpc    string
		want   map[string]string
	}{
		{"adds label", nil, "payments", map[string]string{networkingv1.VPCLabel: "payments"}},
		{"keeps other labels", map[string]string{"tier": "web"}, "payments",
			map[string]string{"tier": "web", networkingv1.VPCLabel: "payments"}},
		{"corrects a wrong label", map[string]string{networkingv1.VPCLabel: "other"}, "payments",
			map[string]string{networkingv1.VPCLabel: "payments"}},
		{"no vpcName", nil, "", nil},
		{"invalid vpcName", nil, "Not_A_Label", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sn := gureumSubnet(func(s *networkingv1.Subnet) { s.Labels, s.Spec.VPCName = tc.labels, tc.vpc })
			subnets.Default(sn)
			if !reflect.DeepEqual(sn.Labels, tc.want) {
				t.Errorf("labels = %v, want %v", sn.Labels, tc.want)
			}
		})
	}

	// VPCs have no defaults: the object is left as sent.
	vpc := gureumVPC(nil)
	gureumResource(t, "vpcs").Strategy.Default(vpc)
	if !reflect.DeepEqual(vpc, gureumVPC(nil)) {
		t.Errorf("VPC defaulting changed %#v", vpc)
	}
}

func TestGureumRows(t *testing.T) {
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	created := metav1.NewTime(now.Add(-90 * time.Minute))
	vpcs, subnets := gureumResource(t, "vpcs").Strategy, gureumResource(t, "subnets").Strategy
	for _, tc := range []struct {
		name     string
		strategy Strategy
		obj      runtime.Object
		columns  string
		want     []interface{}
	}{
		{"vpc", vpcs, gureumVPC(func(v *networkingv1.VPC) {
			v.CreationTimestamp = created
			v.Spec.Peerings = []string{"shared", "data"}
			v.Status.SubnetCount = 3
		}), "Name CIDR Subnets Age NAT Peerings",
			[]interface{}{"payments", "10.100.0.0/16", int64(3), "90m", true, "shared,data"}},
		{"vpc bare", vpcs, gureumVPC(func(v *networkingv1.VPC) { v.Spec.Peerings, v.Spec.EnableNATGateway = nil, false }),
			"Name CIDR Subnets Age NAT Peerings",
			[]interface{}{"payments", "10.100.0.0/16", int64(0), "<unknown>", false, "<none>"}},
		{"subnet", subnets, gureumSubnet(func(s *networkingv1.Subnet) {
			s.CreationTimestamp = metav1.NewTime(now.Add(-49 * time.Hour))
			s.Status.AvailableIPs, s.Status.UsedIPs = 250, 3
		}), "Name VPC CIDR Available Age Used Zone Node",
			[]interface{}{"payments-a", "payments", "10.100.1.0/24", int64(250), "2d1h", int64(3), "zone-a", "<none>"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var names []string
			for _, c := range tc.strategy.Columns {
				names = append(names, c.Name)
			}
			if got := strings.Join(names, " "); got != tc.columns {
				t.Errorf("columns = %s, want %s", got, tc.columns)
			}
			got := tc.strategy.Row(tc.obj, now)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("row = %#v, want %#v", got, tc.want)
			}
			if len(got) != len(tc.strategy.Columns) {
				t.Errorf("%d cells for %d columns", len(got), len(tc.strategy.Columns))
			}
		})
	}
}

func TestGureumSubnetFields(t *testing.T) {
	sn := gureumSubnet(func(s *networkingv1.Subnet) { s.Spec.NodeName = "worker-1" })
	got := gureumResource(t, "subnets").Strategy.Fields(sn)
	want := map[string]string{"spec.vpcName": "payments", "spec.zone": "zone-a", "spec.nodeName": "worker-1"}
	if !reflect.DeepEqual(map[string]string(got), want) {
		t.Errorf("fields = %v, want %v", got, want)
	}
}

func TestGureumDeepCopy(t *testing.T) {
	vpc := gureumVPC(nil)
	cp := vpc.DeepCopy()
	cp.Spec.Peerings[0] = "changed"
	cp.Spec.NamespaceSelector.MatchLabels["team"] = "changed"
	if !reflect.DeepEqual(vpc, gureumVPC(nil)) {
		t.Error("DeepCopy shares memory with the original")
	}
	sn := gureumSubnet(nil)
	scp := sn.DeepCopyObject().(*networkingv1.Subnet)
	scp.Spec.Namespaces[0] = "changed"
	if sn.Spec.Namespaces[0] != "checkout" {
		t.Error("Subnet DeepCopyObject shares memory with the original")
	}
}
