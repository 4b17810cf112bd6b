package rootca

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestDesired(t *testing.T) {
	const ca = "-----BEGIN CERTIFICATE-----\nabc\n-----END CERTIFICATE-----\n"
	tests := []struct {
		name     string
		existing *corev1.ConfigMap
		wantOK   bool
	}{
		{"missing", nil, false},
		{"matching", &corev1.ConfigMap{Data: map[string]string{"ca.crt": ca}}, true},
		{"stale CA", &corev1.ConfigMap{Data: map[string]string{"ca.crt": "old"}}, false},
		{"extra key", &corev1.ConfigMap{Data: map[string]string{"ca.crt": ca, "x": "y"}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, ok := Desired(tt.existing, ca)
			if ok != tt.wantOK || data["ca.crt"] != ca || len(data) != 1 {
				t.Errorf("Desired = %v, %v; want ok=%v and only ca.crt", data, ok, tt.wantOK)
			}
		})
	}
}
