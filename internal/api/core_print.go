package api

import (
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"
)

// Helpers shared by the Table printers. kubectl prints the cells the server
// sends verbatim, so these reproduce Kubernetes' printers cell for cell.
//
// Cells must be JSON-safe values (string, int64, bool, float64, nil):
// metav1.TableRow.DeepCopy panics on anything else, so counts are int64 and
// timestamps are formatted strings.

// HumanDuration formats d the way kubectl's AGE column does: "45s", "5m",
// "2d3h", "3y". It delegates to apimachinery so every printer in Gureum
// rounds exactly like Kubernetes.
func HumanDuration(d time.Duration) string {
	return duration.HumanDuration(d)
}

// TranslateTimestampSince is the AGE cell: "<unknown>" for a zero time.
func TranslateTimestampSince(ts metav1.Time, now time.Time) string {
	if ts.IsZero() {
		return "<unknown>"
	}
	return HumanDuration(now.Sub(ts.Time))
}

// translateMicroTimestampSince is TranslateTimestampSince for MicroTime
// fields (events' eventTime and series).
func translateMicroTimestampSince(ts metav1.MicroTime, now time.Time) string {
	if ts.IsZero() {
		return "<unknown>"
	}
	return HumanDuration(now.Sub(ts.Time))
}

// Column descriptions come from the API types' swagger docs, as in
// Kubernetes, so `kubectl get -o json --server-print` shows the same text.
var (
	objectMetaDoc = metav1.ObjectMeta{}.SwaggerDoc()
	nameColumn    = metav1.TableColumnDefinition{Name: "Name", Type: "string", Format: "name", Description: objectMetaDoc["name"]}
	ageColumn     = metav1.TableColumnDefinition{Name: "Age", Type: "string", Description: objectMetaDoc["creationTimestamp"]}
)

func col(name, typ, desc string) metav1.TableColumnDefinition {
	return metav1.TableColumnDefinition{Name: name, Type: typ, Description: desc}
}

// wideCol is a column kubectl only shows with -o wide.
func wideCol(name, typ, desc string) metav1.TableColumnDefinition {
	return metav1.TableColumnDefinition{Name: name, Type: typ, Description: desc, Priority: 1}
}

// accessModesString abbreviates access modes in the fixed order kubectl
// uses (RWO, ROX, RWX, RWOP), ignoring duplicates.
func accessModesString(modes []corev1.PersistentVolumeAccessMode) string {
	has := map[corev1.PersistentVolumeAccessMode]bool{}
	for _, m := range modes {
		has[m] = true
	}
	var out []string
	for _, m := range []struct {
		mode  corev1.PersistentVolumeAccessMode
		short string
	}{
		{corev1.ReadWriteOnce, "RWO"},
		{corev1.ReadOnlyMany, "ROX"},
		{corev1.ReadWriteMany, "RWX"},
		{corev1.ReadWriteOncePod, "RWOP"},
	} {
		if has[m.mode] {
			out = append(out, m.short)
		}
	}
	return strings.Join(out, ",")
}

// containerCells joins container names and images for the CONTAINERS and
// IMAGES columns of workload tables.
func containerCells(containers []corev1.Container) (names, images string) {
	n := make([]string, len(containers))
	i := make([]string, len(containers))
	for k, c := range containers {
		n[k] = c.Name
		i[k] = c.Image
	}
	return strings.Join(n, ","), strings.Join(i, ",")
}

// ContainerCells is containerCells for other workload printers (Deployments,
// Jobs, ...), which show the same CONTAINERS and IMAGES cells.
func ContainerCells(containers []corev1.Container) (names, images string) {
	return containerCells(containers)
}

// orNone is how kubectl prints an empty optional cell.
func orNone(s string) string {
	if s == "" {
		return "<none>"
	}
	return s
}
