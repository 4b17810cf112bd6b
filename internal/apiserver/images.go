package apiserver

import (
	"encoding/json"
	"net/http"
	"strings"
)

func isImagePath(path string) bool {
	return path == "/v2" || strings.HasPrefix(path, "/v2/")
}

// serveImages authorizes a registry request as a non-resource URL and hands
// it to the registry.
func (s *Server) serveImages(w http.ResponseWriter, r *http.Request, user UserInfo) {
	if s.cfg.Images == nil {
		writeRegistryError(w, http.StatusNotFound, "UNSUPPORTED", "this server has no image registry")
		return
	}
	attrs := attributes{user: user, verb: strings.ToLower(r.Method), path: r.URL.Path}
	if ok, _ := s.decide(attrs); !ok {
		action := "pull from"
		if attrs.verb != "get" && attrs.verb != "head" {
			action = "push to"
		}
		writeRegistryError(w, http.StatusForbidden, "DENIED", "user "+user.Name+" may not "+action+" the image registry ("+attrs.verb+" "+r.URL.Path+"); grant the nonResourceURL /v2/* with RBAC")
		return
	}
	s.cfg.Images.ServeHTTP(w, r)
}

func writeRegistryError(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]string{{"code": code, "message": message}}})
}
