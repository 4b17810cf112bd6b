package apiserver

import (
	"net/http"
	"strings"
)

// requestInfo is what a Kubernetes-style URL names.
type requestInfo struct {
	IsResource  bool
	Verb        string // get list watch create update patch delete deletecollection
	APIPrefix   string // "api" or "apis"
	Group       string
	Version     string
	Namespace   string
	Resource    string
	Subresource string
	Name        string
	Path        string
}

// parseRequestInfo splits /api/v1/namespaces/ns/pods/name/status and
// /apis/group/version/... into their parts and the verb the HTTP method
// means there.
func parseRequestInfo(r *http.Request) requestInfo {
	info := requestInfo{Path: r.URL.Path}
	parts := splitPath(r.URL.Path)
	if len(parts) < 2 || (parts[0] != "api" && parts[0] != "apis") {
		return info
	}
	info.APIPrefix = parts[0]
	parts = parts[1:]
	if info.APIPrefix == "api" {
		info.Version = parts[0]
		parts = parts[1:]
	} else {
		if len(parts) < 2 {
			return info
		}
		info.Group, info.Version = parts[0], parts[1]
		parts = parts[2:]
	}
	if len(parts) == 0 {
		return info
	}
	info.IsResource = true
	// Deprecated /watch/ prefix paths.
	isWatchPath := false
	if parts[0] == "watch" {
		isWatchPath = true
		parts = parts[1:]
		if len(parts) == 0 {
			// A bare /watch names no resource: 404, not a panic.
			return info
		}
	}
	if parts[0] == "namespaces" && len(parts) > 1 {
		info.Namespace = parts[1]
		// namespaces/{name}/status and /finalize are subresources of the
		// namespace; anything else after the name is a namespaced resource.
		if len(parts) > 2 && parts[2] != "status" && parts[2] != "finalize" {
			parts = parts[2:]
		}
	}
	info.Resource = parts[0]
	if len(parts) >= 2 {
		info.Name = parts[1]
	}
	if len(parts) >= 3 {
		info.Subresource = parts[2]
	}
	if info.Resource == "namespaces" {
		// A namespace is cluster-scoped; its own name is not a namespace.
		info.Namespace = ""
	}
	q := query(r)
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		switch {
		case isWatchPath || q.Get("watch") == "true" || q.Get("watch") == "1":
			info.Verb = "watch"
		case info.Name == "":
			info.Verb = "list"
		default:
			info.Verb = "get"
		}
	case http.MethodPost:
		info.Verb = "create"
	case http.MethodPut:
		info.Verb = "update"
	case http.MethodPatch:
		info.Verb = "patch"
	case http.MethodDelete:
		if info.Name == "" {
			info.Verb = "deletecollection"
		} else {
			info.Verb = "delete"
		}
	}
	return info
}

func splitPath(p string) []string {
	p = strings.Trim(p, "/")
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}
