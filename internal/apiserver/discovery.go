package apiserver

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"mime"
	"net/http"
	"runtime"
	"strings"

	apidiscoveryv2 "k8s.io/api/apidiscovery/v2"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/version"

	"github.com/gureum/gureum/internal/api"
)

// discoveryDocs are the pre-encoded discovery responses.
type discoveryDocs struct {
	apiVersions    []byte            // /api
	groupList      []byte            // /apis
	groups         map[string][]byte // /apis/<group>
	resourceLists  map[string][]byte // /api/v1, /apis/<group>/<version>
	aggregatedCore []byte            // /api, aggregated
	aggregatedApis []byte            // /apis, aggregated
	aggCoreETag    string
	aggApisETag    string
}

const aggregatedV2 = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"

func (s *Server) serveVersion(w http.ResponseWriter, r *http.Request) {
	major, minor := "1", strings.Split(strings.TrimPrefix(KubernetesVersion, "v1."), ".")[0]
	writeJSON(w, http.StatusOK, version.Info{
		Major:      major,
		Minor:      minor,
		GitVersion: KubernetesVersion,
		GitCommit:  "gureum",
		BuildDate:  "",
		GoVersion:  runtime.Version(),
		Compiler:   runtime.Compiler,
		Platform:   runtime.GOOS + "/" + runtime.GOARCH,
	})
}

func writeJSON(w http.ResponseWriter, code int, v interface{}) {
	body, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(body)
}

func writeRaw(w http.ResponseWriter, contentType string, body []byte) {
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// wantsAggregated reports whether the client asked for aggregated discovery
// (kubectl and client-go do) before plain JSON.
func wantsAggregated(r *http.Request) bool {
	for _, clause := range strings.Split(r.Header.Get("Accept"), ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(clause))
		if err != nil {
			continue
		}
		if mt == "application/json" && params["g"] == "apidiscovery.k8s.io" && params["as"] == "APIGroupDiscoveryList" {
			return params["v"] == "v2"
		}
		if mt == "application/json" && params["as"] == "" {
			return false
		}
	}
	return false
}

func (s *Server) docs() *discoveryDocs { return s.discovery.Load() }

// rebuildDiscovery builds the discovery documents from what is served now.
func (s *Server) rebuildDiscovery() {
	d := buildDiscovery(s.allResources())
	s.discovery.Store(&d)
}

func (s *Server) serveDiscoveryRoot(w http.ResponseWriter, r *http.Request) {
	d := s.docs()
	core := strings.HasPrefix(r.URL.Path, "/api") && !strings.HasPrefix(r.URL.Path, "/apis")
	if wantsAggregated(r) {
		body, etag := d.aggregatedApis, d.aggApisETag
		if core {
			body, etag = d.aggregatedCore, d.aggCoreETag
		}
		w.Header().Set("Vary", "Accept")
		w.Header().Set("ETag", etag)
		if r.Header.Get("If-None-Match") == etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		writeRaw(w, aggregatedV2, body)
		return
	}
	w.Header().Set("Vary", "Accept")
	if core {
		writeRaw(w, "application/json", d.apiVersions)
		return
	}
	writeRaw(w, "application/json", d.groupList)
}

func (s *Server) serveGroupDiscovery(w http.ResponseWriter, r *http.Request, info requestInfo) {
	d := s.docs()
	if info.APIPrefix == "apis" && info.Version == "" {
		if body, ok := d.groups[info.Group]; ok {
			writeRaw(w, "application/json", body)
			return
		}
	} else if body, ok := d.resourceLists[schema.GroupVersion{Group: info.Group, Version: info.Version}.String()]; ok {
		writeRaw(w, "application/json", body)
		return
	}
	if info.APIPrefix == "apis" && info.Version == "" {
		// /apis/<group> with no version segment parses with the group as
		// the only part.
		if body, ok := d.groups[strings.Trim(strings.TrimPrefix(info.Path, "/apis/"), "/")]; ok {
			writeRaw(w, "application/json", body)
			return
		}
	}
	writeError(w, r, apierrors.NewNotFound(schema.GroupResource{}, ""), schema.GroupResource{}, "")
}

func buildDiscovery(reg *api.Registry) discoveryDocs {
	d := discoveryDocs{groups: map[string][]byte{}, resourceLists: map[string][]byte{}}
	gvs := reg.GroupVersions()

	mustJSON := func(v interface{}) []byte {
		b, err := json.Marshal(v)
		if err != nil {
			panic(err)
		}
		return b
	}
	d.apiVersions = mustJSON(metav1.APIVersions{
		TypeMeta:                   metav1.TypeMeta{Kind: "APIVersions"},
		Versions:                   []string{"v1"},
		ServerAddressByClientCIDRs: []metav1.ServerAddressByClientCIDR{{ClientCIDR: "0.0.0.0/0", ServerAddress: ""}},
	})

	var groupList metav1.APIGroupList
	groupList.Kind, groupList.APIVersion = "APIGroupList", "v1"
	groupsSeen := map[string]*metav1.APIGroup{}
	var groupOrder []string
	for _, gv := range gvs {
		if gv.Group == "" {
			continue
		}
		g, ok := groupsSeen[gv.Group]
		if !ok {
			g = &metav1.APIGroup{TypeMeta: metav1.TypeMeta{Kind: "APIGroup", APIVersion: "v1"}, Name: gv.Group}
			groupsSeen[gv.Group] = g
			groupOrder = append(groupOrder, gv.Group)
		}
		v := metav1.GroupVersionForDiscovery{GroupVersion: gv.String(), Version: gv.Version}
		g.Versions = append(g.Versions, v)
		if g.PreferredVersion.Version == "" {
			g.PreferredVersion = v
		}
	}
	for _, name := range groupOrder {
		g := groupsSeen[name]
		groupList.Groups = append(groupList.Groups, *g)
		d.groups[name] = mustJSON(g)
	}
	d.groupList = mustJSON(groupList)

	var aggCore, aggApis apidiscoveryv2.APIGroupDiscoveryList
	aggCore.Kind, aggCore.APIVersion = "APIGroupDiscoveryList", "apidiscovery.k8s.io/v2"
	aggApis.Kind, aggApis.APIVersion = "APIGroupDiscoveryList", "apidiscovery.k8s.io/v2"
	aggGroups := map[string]*apidiscoveryv2.APIGroupDiscovery{}

	for _, gv := range gvs {
		list := metav1.APIResourceList{TypeMeta: metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"}, GroupVersion: gv.String()}
		var aggVersion apidiscoveryv2.APIVersionDiscovery
		aggVersion.Version = gv.Version
		aggVersion.Freshness = apidiscoveryv2.DiscoveryFreshnessCurrent
		for _, res := range reg.All() {
			if res.GroupVersionResource.GroupVersion() != gv {
				continue
			}
			list.APIResources = append(list.APIResources, metav1.APIResource{
				Name:               res.GroupVersionResource.Resource,
				SingularName:       res.Singular,
				Namespaced:         res.Namespaced,
				Kind:               res.Kind,
				Verbs:              res.Verbs,
				ShortNames:         res.ShortNames,
				Categories:         res.Categories,
				StorageVersionHash: storageVersionHash(res),
			})
			scope := apidiscoveryv2.ScopeCluster
			if res.Namespaced {
				scope = apidiscoveryv2.ScopeNamespace
			}
			ar := apidiscoveryv2.APIResourceDiscovery{
				Resource:         res.GroupVersionResource.Resource,
				ResponseKind:     &metav1.GroupVersionKind{Group: gv.Group, Version: gv.Version, Kind: res.Kind},
				Scope:            scope,
				SingularResource: res.Singular,
				Verbs:            res.Verbs,
				ShortNames:       res.ShortNames,
				Categories:       res.Categories,
			}
			for _, sub := range res.Subresources {
				kind, group, ver := sub.Kind, sub.Group, sub.Version
				if kind == "" {
					kind = res.Kind
				}
				if group == "" && ver == "" {
					group, ver = gv.Group, gv.Version
				}
				list.APIResources = append(list.APIResources, metav1.APIResource{
					Name:       res.GroupVersionResource.Resource + "/" + sub.Name,
					Namespaced: res.Namespaced,
					Kind:       kind,
					Group:      group,
					Version:    ver,
					Verbs:      sub.Verbs,
				})
				ar.Subresources = append(ar.Subresources, apidiscoveryv2.APISubresourceDiscovery{
					Subresource:  sub.Name,
					ResponseKind: &metav1.GroupVersionKind{Group: group, Version: ver, Kind: kind},
					Verbs:        sub.Verbs,
				})
			}
			aggVersion.Resources = append(aggVersion.Resources, ar)
		}
		d.resourceLists[gv.String()] = mustJSON(list)
		g, ok := aggGroups[gv.Group]
		if !ok {
			g = &apidiscoveryv2.APIGroupDiscovery{}
			g.Name = gv.Group
			aggGroups[gv.Group] = g
			if gv.Group == "" {
				aggCore.Items = append(aggCore.Items, apidiscoveryv2.APIGroupDiscovery{})
			} else {
				aggApis.Items = append(aggApis.Items, apidiscoveryv2.APIGroupDiscovery{})
			}
		}
		g.Versions = append(g.Versions, aggVersion)
	}
	fill := func(list *apidiscoveryv2.APIGroupDiscoveryList, core bool) {
		list.Items = list.Items[:0]
		for _, gv := range gvs {
			if (gv.Group == "") != core {
				continue
			}
			if g, ok := aggGroups[gv.Group]; ok {
				list.Items = append(list.Items, *g)
				delete(aggGroups, gv.Group)
			}
		}
	}
	fill(&aggCore, true)
	fill(&aggApis, false)
	d.aggregatedCore = mustJSON(aggCore)
	d.aggregatedApis = mustJSON(aggApis)
	d.aggCoreETag = etag(d.aggregatedCore)
	d.aggApisETag = etag(d.aggregatedApis)
	return d
}

func etag(b []byte) string {
	sum := sha256.Sum256(b)
	return `"` + hex.EncodeToString(sum[:8]) + `"`
}

// storageVersionHash is a stable hash of where a resource is stored, which
// clients use to notice storage migrations.
func storageVersionHash(res *api.Resource) string {
	// Views of one storage (autoscaling v1 and v2) share a hash, which is
	// how clients such as the storage migrator tell they are one thing.
	gvk := res.GroupVersionKind()
	if res.StoredAs != nil {
		gvk = res.StoredAs.Kind
	} else if res.StorageVersion != "" {
		gvk.Version = res.StorageVersion
	}
	sum := sha256.Sum256([]byte(gvk.String()))
	return base64.StdEncoding.EncodeToString(sum[:8])
}
