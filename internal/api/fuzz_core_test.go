package api

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Fuzz targets for the core strategies: random JSON decoded into a core
// object must never make defaulting, validation, printing or field
// extraction panic, and validation must be deterministic (Go randomises map
// order, and error lists go to clients verbatim).

// coreFuzzResources are the resources FuzzCoreStrategies picks from.
var coreFuzzResources = []string{"namespaces", "pods", "services", "endpoints", "configmaps", "secrets", "events", "nodes",
	"persistentvolumes", "persistentvolumeclaims", "serviceaccounts", "resourcequotas", "limitranges", "podtemplates",
	"replicationcontrollers"}

// coreSeeds adds every testdata/core manifest as a seed.
func coreSeeds(f *testing.F, add func(data []byte)) {
	files, err := filepath.Glob(filepath.Join("testdata", "core", "*.json"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no seeds: %v", err)
	}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		add(data)
	}
}

func coreErrStrings(errs field.ErrorList) []string {
	out := []string{}
	for _, e := range errs {
		out = append(out, e.Error())
	}
	return out
}

// coreExercise runs one decoded object through everything the API server
// calls, checking determinism and shapes.
func coreExercise(t *testing.T, res *Resource, data []byte) {
	obj := res.New()
	if err := utiljson.Unmarshal(data, obj); err != nil {
		return // not an object of this kind; nothing to check
	}
	s := res.Strategy
	// Validation before defaulting must cope with missing fields.
	first := coreErrStrings(s.Validate(obj.DeepCopyObject()))
	if again := coreErrStrings(s.Validate(obj.DeepCopyObject())); !reflect.DeepEqual(first, again) {
		t.Fatalf("Validate is not deterministic:\n%q\n%q", first, again)
	}

	created := obj.DeepCopyObject()
	errs := coreCreate(res, created)
	again := obj.DeepCopyObject()
	if errs2 := coreCreate(res, again); !reflect.DeepEqual(coreErrStrings(errs), coreErrStrings(errs2)) {
		t.Fatalf("create is not deterministic:\n%v\n%v", errs, errs2)
	}
	if !reflect.DeepEqual(created, again) {
		t.Fatalf("defaulting is not deterministic")
	}
	// Defaulting is idempotent: the server may default more than once.
	twice := created.DeepCopyObject()
	s.Default(twice)
	if !reflect.DeepEqual(created, twice) {
		t.Fatalf("Default is not idempotent")
	}

	if cells := s.Row(created, coreNow); len(cells) != len(s.Columns) {
		t.Fatalf("row has %d cells for %d columns", len(cells), len(s.Columns))
	}
	_ = s.Fields(created)

	// An update to itself of a valid object is valid.
	if len(errs) == 0 {
		upd := created.DeepCopyObject()
		if uerrs := coreUpdate(res, upd, created); len(uerrs) != 0 {
			t.Fatalf("no-op update rejected: %v", uerrs)
		}
	}
	// An update from the raw object to the created one must not panic.
	_ = coreUpdate(res, obj.DeepCopyObject(), created)
}

func FuzzValidatePod(f *testing.F) {
	res := coreRes(f, "pods")
	coreSeeds(f, func(data []byte) { f.Add(data) })
	f.Add([]byte(`{"spec":{"containers":[{"name":"a","image":"b","resources":{"limits":{"cpu":"-1"}}}]}}`))
	f.Add([]byte(`{"status":{"initContainerStatuses":[{"name":"x","state":{"terminated":{}}}],"containerStatuses":[{}]}}`))
	// Found by fuzzing: label errors came out in map order.
	f.Add([]byte(`{"metadata":{"labels":{"1000#":"","":""}}}`))
	f.Fuzz(func(t *testing.T, data []byte) { coreExercise(t, res, data) })
}

func FuzzValidateService(f *testing.F) {
	res := coreRes(f, "services")
	coreSeeds(f, func(data []byte) { f.Add(data) })
	f.Add([]byte(`{"spec":{"clusterIPs":["None","10.0.0.1","::1"],"ipFamilies":["IPv4","IPv4","IPv9"]}}`))
	f.Add([]byte(`{"spec":{"type":"LoadBalancer","ports":[{"port":80,"nodePort":30000},{"port":80,"nodePort":30000}]}}`))
	f.Fuzz(func(t *testing.T, data []byte) { coreExercise(t, res, data) })
}

// FuzzCoreStrategies covers every core resource: the first byte picks it.
func FuzzCoreStrategies(f *testing.F) {
	resources := make([]*Resource, len(coreFuzzResources))
	for i, name := range coreFuzzResources {
		resources[i] = coreRes(f, name)
	}
	coreSeeds(f, func(data []byte) {
		for i := range resources {
			f.Add(byte(i), data)
		}
	})
	f.Fuzz(func(t *testing.T, which byte, data []byte) {
		coreExercise(t, resources[int(which)%len(resources)], data)
	})
}

// TestCoreFuzzSeedsDecode keeps the seed corpus honest: each manifest must
// decode into its kind and pass validation, or the fuzzers start from
// nothing useful.
func TestCoreFuzzSeedsDecode(t *testing.T) {
	kinds := map[string]string{}
	for _, name := range coreFuzzResources {
		kinds[coreRes(t, name).Kind] = name
	}
	files, _ := filepath.Glob(filepath.Join("testdata", "core", "*.json"))
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var tm struct {
				Kind string `json:"kind"`
			}
			if err := utiljson.Unmarshal(data, &tm); err != nil {
				t.Fatal(err)
			}
			name, ok := kinds[tm.Kind]
			if !ok {
				t.Fatalf("kind %q is not a core kind", tm.Kind)
			}
			res := coreRes(t, name)
			obj := res.New()
			if err := utiljson.Unmarshal(data, obj); err != nil {
				t.Fatal(err)
			}
			// Nodes keep the status their agent reports; everything else is
			// created the way the server does it.
			var errs field.ErrorList
			if _, isNode := obj.(*corev1.Node); isNode {
				res.Strategy.Default(obj)
				errs = res.Strategy.Validate(obj)
			} else {
				errs = coreCreate(res, obj)
			}
			if len(errs) != 0 {
				t.Errorf("seed is invalid: %v", errs)
			}
		})
	}
}
