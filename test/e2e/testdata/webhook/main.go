// Command webhook is the admission webhook the end-to-end tests run in a
// pod: over TLS with the certificate mounted at /tls, it denies objects
// labelled deny=yes and allows everything else. Only the standard library,
// so it builds into a static binary for an image without libc.
package main

import (
	"encoding/json"
	"log"
	"net/http"
)

type review struct {
	APIVersion string    `json:"apiVersion"`
	Kind       string    `json:"kind"`
	Request    *request  `json:"request,omitempty"`
	Response   *response `json:"response,omitempty"`
}

type request struct {
	UID    string `json:"uid"`
	Object struct {
		Metadata struct {
			Labels map[string]string `json:"labels"`
		} `json:"metadata"`
	} `json:"object"`
}

type response struct {
	UID     string  `json:"uid"`
	Allowed bool    `json:"allowed"`
	Status  *status `json:"status,omitempty"`
}

type status struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

func main() {
	http.HandleFunc("/validate", func(w http.ResponseWriter, r *http.Request) {
		var rv review
		if err := json.NewDecoder(r.Body).Decode(&rv); err != nil || rv.Request == nil {
			http.Error(w, "expected an AdmissionReview", http.StatusBadRequest)
			return
		}
		resp := &response{UID: rv.Request.UID, Allowed: true}
		if rv.Request.Object.Metadata.Labels["deny"] == "yes" {
			resp.Allowed = false
			resp.Status = &status{Code: http.StatusForbidden, Message: "denied by the in-cluster webhook"}
		}
		_ = json.NewEncoder(w).Encode(review{APIVersion: rv.APIVersion, Kind: rv.Kind, Response: resp})
	})
	log.Fatal(http.ListenAndServeTLS(":8443", "/tls/tls.crt", "/tls/tls.key", nil))
}
