package api

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
)

// Scheme knows every Go type Gureum serves; Codecs encodes and decodes them
// as JSON, YAML and protobuf.
var (
	Scheme = newScheme()
	Codecs = serializer.NewCodecFactory(Scheme)
	// ParameterCodec decodes query parameters into option structs such as
	// metav1.ListOptions.
	ParameterCodec = runtime.NewParameterCodec(Scheme)
)

func newScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	metav1.AddToGroupVersion(s, schema.GroupVersion{Version: "v1"})
	for _, add := range extraSchemeBuilders {
		utilruntime.Must(add(s))
	}
	return s
}

// extraSchemeBuilders lets Gureum's own API groups register their types.
var extraSchemeBuilders []func(*runtime.Scheme) error
