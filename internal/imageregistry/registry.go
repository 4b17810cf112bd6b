// Package imageregistry owns Gureum's built-in image registry: the OCI
// distribution API v2 (pull, push, chunked and cross-repository uploads,
// tags, catalog) over content-addressed files in one directory. The API
// server mounts it at /v2/ behind its own authentication, and every node's
// container runtime uses it as a mirror, so an image pushed once runs on any
// node without an outside registry.
//
// Layout under the directory:
//
//	blobs/sha256/<hex>                       content, shared by all repositories
//	repositories/<name>/_manifests/<hex>     media type of a manifest in this repository
//	repositories/<name>/_tags/<tag>          digest the tag points at
//	uploads/<id>                             uploads in progress
package imageregistry

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// Registry serves the distribution API from a directory.
type Registry struct {
	dir string
	log *slog.Logger
	// mu orders tag and manifest writes; blob writes are atomic renames
	// of content-addressed files and need no lock.
	mu sync.Mutex
}

// MaxManifestBytes bounds a manifest body; real manifests are a few KiB.
const MaxManifestBytes = 4 << 20

// New opens (creating if needed) a registry rooted at dir.
func New(dir string, log *slog.Logger) (*Registry, error) {
	for _, d := range []string{"blobs/sha256", "repositories", "uploads"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			return nil, fmt.Errorf("create registry dir: %w", err)
		}
	}
	return &Registry{dir: dir, log: log}, nil
}

var (
	// Repository names as the distribution spec defines them.
	nameRE   = regexp.MustCompile(`^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$`)
	tagRE    = regexp.MustCompile(`^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$`)
	digestRE = regexp.MustCompile(`^sha256:[a-f0-9]{64}$`)
	uploadRE = regexp.MustCompile(`^[a-f0-9]{32}$`)
)

// Error codes of the distribution spec.
const (
	codeBlobUnknown         = "BLOB_UNKNOWN"
	codeBlobUploadInvalid   = "BLOB_UPLOAD_INVALID"
	codeBlobUploadUnknown   = "BLOB_UPLOAD_UNKNOWN"
	codeDigestInvalid       = "DIGEST_INVALID"
	codeManifestBlobUnknown = "MANIFEST_BLOB_UNKNOWN"
	codeManifestInvalid     = "MANIFEST_INVALID"
	codeManifestUnknown     = "MANIFEST_UNKNOWN"
	codeNameInvalid         = "NAME_INVALID"
	codeNameUnknown         = "NAME_UNKNOWN"
	codeSizeInvalid         = "SIZE_INVALID"
	codeUnsupported         = "UNSUPPORTED"
)

type regError struct {
	status  int
	code    string
	message string
}

func (e *regError) Error() string { return e.code + ": " + e.message }

func errorf(status int, code, format string, args ...any) *regError {
	return &regError{status: status, code: code, message: fmt.Sprintf(format, args...)}
}

func writeError(w http.ResponseWriter, err error) {
	var re *regError
	if !errors.As(err, &re) {
		re = &regError{status: http.StatusInternalServerError, code: "UNKNOWN", message: err.Error()}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(re.status)
	_ = json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]string{{"code": re.code, "message": re.message}}})
}

// ServeHTTP answers one distribution API request. The caller has already
// authenticated and authorized it.
func (r *Registry) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
	path := strings.TrimPrefix(req.URL.Path, "/v2")
	if path == "" || path == "/" {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte("{}"))
		return
	}
	if path == "/_catalog" {
		r.serveCatalog(w, req)
		return
	}
	name, kind, rest, ok := splitPath(strings.TrimPrefix(path, "/"))
	if !ok {
		writeError(w, errorf(http.StatusNotFound, codeUnsupported, "no such registry endpoint %s", req.URL.Path))
		return
	}
	if !nameRE.MatchString(name) || len(name) > 255 {
		writeError(w, errorf(http.StatusBadRequest, codeNameInvalid, "invalid repository name %q", name))
		return
	}
	var err error
	switch {
	case kind == "tags" && rest == "list" && req.Method == http.MethodGet:
		err = r.serveTags(w, req, name)
	case kind == "manifests":
		err = r.serveManifest(w, req, name, rest)
	case kind == "blobs" && (rest == "uploads" || rest == "uploads/"):
		err = r.startUpload(w, req, name)
	case kind == "blobs" && strings.HasPrefix(rest, "uploads/"):
		err = r.serveUpload(w, req, name, strings.TrimPrefix(rest, "uploads/"))
	case kind == "blobs":
		err = r.serveBlob(w, req, rest)
	default:
		err = errorf(http.StatusNotFound, codeUnsupported, "no such registry endpoint %s", req.URL.Path)
	}
	if err != nil {
		writeError(w, err)
	}
}

// splitPath cuts "<name>/<kind>/<rest>" where name may contain slashes: the
// last "/manifests/", "/blobs/" or "/tags/" separates it.
func splitPath(p string) (name, kind, rest string, ok bool) {
	best := -1
	for _, k := range []string{"/manifests/", "/blobs/", "/tags/"} {
		if i := strings.LastIndex(p, k); i > best {
			best, kind = i, strings.Trim(k, "/")
		}
	}
	if best <= 0 {
		return "", "", "", false
	}
	return p[:best], kind, p[best+len(kind)+2:], true
}

func (r *Registry) blobPath(digest string) string {
	return filepath.Join(r.dir, "blobs", "sha256", strings.TrimPrefix(digest, "sha256:"))
}

func (r *Registry) repoDir(name string) string {
	return filepath.Join(r.dir, "repositories", filepath.FromSlash(name))
}

// HasBlob reports whether the registry holds digest.
func (r *Registry) HasBlob(digest string) bool {
	if !digestRE.MatchString(digest) {
		return false
	}
	_, err := os.Stat(r.blobPath(digest))
	return err == nil
}

func (r *Registry) serveBlob(w http.ResponseWriter, req *http.Request, digest string) error {
	if !digestRE.MatchString(digest) {
		return errorf(http.StatusBadRequest, codeDigestInvalid, "invalid digest %q (only sha256 is supported)", digest)
	}
	switch req.Method {
	case http.MethodGet, http.MethodHead:
		f, err := os.Open(r.blobPath(digest))
		if errors.Is(err, fs.ErrNotExist) {
			return errorf(http.StatusNotFound, codeBlobUnknown, "blob %s is not in the registry", digest)
		}
		if err != nil {
			return fmt.Errorf("open blob: %w", err)
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil {
			return fmt.Errorf("stat blob: %w", err)
		}
		w.Header().Set("Docker-Content-Digest", digest)
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("ETag", `"`+digest+`"`)
		// Content is immutable; ServeContent handles HEAD and Range.
		http.ServeContent(w, req, "", st.ModTime(), f)
		return nil
	case http.MethodDelete:
		if err := os.Remove(r.blobPath(digest)); errors.Is(err, fs.ErrNotExist) {
			return errorf(http.StatusNotFound, codeBlobUnknown, "blob %s is not in the registry", digest)
		} else if err != nil {
			return fmt.Errorf("delete blob: %w", err)
		}
		w.WriteHeader(http.StatusAccepted)
		return nil
	}
	return errorf(http.StatusMethodNotAllowed, codeUnsupported, "method %s not allowed on blobs", req.Method)
}

func newUploadID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (r *Registry) uploadPath(id string) string { return filepath.Join(r.dir, "uploads", id) }

func (r *Registry) startUpload(w http.ResponseWriter, req *http.Request, name string) error {
	if req.Method != http.MethodPost {
		return errorf(http.StatusMethodNotAllowed, codeUnsupported, "method %s not allowed on uploads", req.Method)
	}
	q := req.URL.Query()
	if mount := q.Get("mount"); mount != "" {
		// Blobs are shared by every repository, so a mount of a blob we
		// hold is free; otherwise fall through to a normal upload.
		if r.HasBlob(mount) {
			w.Header().Set("Location", "/v2/"+name+"/blobs/"+mount)
			w.Header().Set("Docker-Content-Digest", mount)
			w.WriteHeader(http.StatusCreated)
			return nil
		}
	}
	id := newUploadID()
	f, err := os.OpenFile(r.uploadPath(id), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("create upload: %w", err)
	}
	if digest := q.Get("digest"); digest != "" {
		// Monolithic upload: the body is the whole blob.
		_, err := io.Copy(f, req.Body)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			_ = os.Remove(r.uploadPath(id))
			return fmt.Errorf("write upload: %w", err)
		}
		return r.finishUpload(w, name, id, digest)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("create upload: %w", err)
	}
	w.Header().Set("Location", "/v2/"+name+"/blobs/uploads/"+id)
	w.Header().Set("Docker-Upload-UUID", id)
	w.Header().Set("Range", "0-0")
	w.WriteHeader(http.StatusAccepted)
	return nil
}

func (r *Registry) serveUpload(w http.ResponseWriter, req *http.Request, name, id string) error {
	if !uploadRE.MatchString(id) {
		return errorf(http.StatusNotFound, codeBlobUploadUnknown, "upload %q not found", id)
	}
	path := r.uploadPath(id)
	st, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return errorf(http.StatusNotFound, codeBlobUploadUnknown, "upload %s not found; start a new one", id)
	}
	if err != nil {
		return fmt.Errorf("stat upload: %w", err)
	}
	switch req.Method {
	case http.MethodGet:
		w.Header().Set("Location", "/v2/"+name+"/blobs/uploads/"+id)
		w.Header().Set("Range", rangeHeader(st.Size()))
		w.Header().Set("Docker-Upload-UUID", id)
		w.WriteHeader(http.StatusNoContent)
		return nil
	case http.MethodDelete:
		_ = os.Remove(path)
		w.WriteHeader(http.StatusNoContent)
		return nil
	case http.MethodPatch, http.MethodPut:
		if cr := req.Header.Get("Content-Range"); cr != "" && req.Method == http.MethodPatch {
			start, _, ok := strings.Cut(cr, "-")
			if n, err := strconv.ParseInt(start, 10, 64); !ok || err != nil || n != st.Size() {
				w.Header().Set("Range", rangeHeader(st.Size()))
				return errorf(http.StatusRequestedRangeNotSatisfiable, codeBlobUploadInvalid, "chunk starts at %s but the upload has %d bytes", start, st.Size())
			}
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return fmt.Errorf("open upload: %w", err)
		}
		n, err := io.Copy(f, req.Body)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("write upload: %w", err)
		}
		if req.Method == http.MethodPut {
			return r.finishUpload(w, name, id, req.URL.Query().Get("digest"))
		}
		w.Header().Set("Location", "/v2/"+name+"/blobs/uploads/"+id)
		w.Header().Set("Range", rangeHeader(st.Size()+n))
		w.Header().Set("Docker-Upload-UUID", id)
		w.WriteHeader(http.StatusAccepted)
		return nil
	}
	return errorf(http.StatusMethodNotAllowed, codeUnsupported, "method %s not allowed on uploads", req.Method)
}

func rangeHeader(size int64) string {
	if size == 0 {
		return "0-0"
	}
	return fmt.Sprintf("0-%d", size-1)
}

// finishUpload verifies the upload's digest and moves it into the blob
// store.
func (r *Registry) finishUpload(w http.ResponseWriter, name, id, digest string) error {
	path := r.uploadPath(id)
	if !digestRE.MatchString(digest) {
		_ = os.Remove(path)
		return errorf(http.StatusBadRequest, codeDigestInvalid, "invalid digest %q (only sha256 is supported)", digest)
	}
	got, err := fileDigest(path)
	if err != nil {
		return err
	}
	if got != digest {
		_ = os.Remove(path)
		return errorf(http.StatusBadRequest, codeDigestInvalid, "upload has digest %s, not %s", got, digest)
	}
	if err := os.Rename(path, r.blobPath(digest)); err != nil {
		return fmt.Errorf("store blob: %w", err)
	}
	w.Header().Set("Location", "/v2/"+name+"/blobs/"+digest)
	w.Header().Set("Docker-Content-Digest", digest)
	w.WriteHeader(http.StatusCreated)
	return nil
}

func fileDigest(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("open upload: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hash upload: %w", err)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

// putBlob stores content and returns its digest.
func (r *Registry) putBlob(data []byte) (string, error) {
	sum := sha256.Sum256(data)
	digest := "sha256:" + hex.EncodeToString(sum[:])
	if r.HasBlob(digest) {
		return digest, nil
	}
	tmp := r.uploadPath(newUploadID())
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return "", fmt.Errorf("write blob: %w", err)
	}
	if err := os.Rename(tmp, r.blobPath(digest)); err != nil {
		return "", fmt.Errorf("store blob: %w", err)
	}
	return digest, nil
}

// manifestHeader is what every manifest kind shares.
type manifestHeader struct {
	MediaType string `json:"mediaType"`
	Config    *struct {
		Digest string `json:"digest"`
	} `json:"config"`
	Layers []struct {
		Digest string `json:"digest"`
	} `json:"layers"`
	Manifests []struct {
		Digest string `json:"digest"`
	} `json:"manifests"`
}

func (r *Registry) serveManifest(w http.ResponseWriter, req *http.Request, name, ref string) error {
	isDigest := digestRE.MatchString(ref)
	if !isDigest && !tagRE.MatchString(ref) {
		return errorf(http.StatusBadRequest, codeManifestInvalid, "invalid tag or digest %q", ref)
	}
	switch req.Method {
	case http.MethodGet, http.MethodHead:
		digest, mediaType, err := r.resolve(name, ref)
		if err != nil {
			return err
		}
		data, err := os.ReadFile(r.blobPath(digest))
		if err != nil {
			return errorf(http.StatusNotFound, codeManifestUnknown, "manifest %s of %s is missing its content", digest, name)
		}
		w.Header().Set("Content-Type", mediaType)
		w.Header().Set("Docker-Content-Digest", digest)
		w.Header().Set("ETag", `"`+digest+`"`)
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		if req.Method == http.MethodGet {
			_, _ = w.Write(data)
		}
		return nil
	case http.MethodPut:
		data, err := io.ReadAll(io.LimitReader(req.Body, MaxManifestBytes+1))
		if err != nil {
			return fmt.Errorf("read manifest: %w", err)
		}
		if len(data) > MaxManifestBytes {
			return errorf(http.StatusRequestEntityTooLarge, codeSizeInvalid, "manifest larger than %d bytes", MaxManifestBytes)
		}
		mediaType := req.Header.Get("Content-Type")
		digest, err := r.PutManifest(name, ref, mediaType, data)
		if err != nil {
			return err
		}
		w.Header().Set("Location", "/v2/"+name+"/manifests/"+digest)
		w.Header().Set("Docker-Content-Digest", digest)
		w.WriteHeader(http.StatusCreated)
		return nil
	case http.MethodDelete:
		if err := r.deleteManifest(name, ref, isDigest); err != nil {
			return err
		}
		w.WriteHeader(http.StatusAccepted)
		return nil
	}
	return errorf(http.StatusMethodNotAllowed, codeUnsupported, "method %s not allowed on manifests", req.Method)
}

// PutManifest stores a manifest under name and tags it with ref when ref is
// a tag. Every blob and child manifest it references must already be
// present, so a pull of a stored manifest never fails half way.
func (r *Registry) PutManifest(name, ref, mediaType string, data []byte) (string, error) {
	if !nameRE.MatchString(name) {
		return "", errorf(http.StatusBadRequest, codeNameInvalid, "invalid repository name %q", name)
	}
	var h manifestHeader
	if err := json.Unmarshal(data, &h); err != nil {
		return "", errorf(http.StatusBadRequest, codeManifestInvalid, "manifest is not valid JSON: %v", err)
	}
	if mediaType == "" || mediaType == "application/octet-stream" {
		mediaType = h.MediaType
	}
	if mediaType == "" {
		return "", errorf(http.StatusBadRequest, codeManifestInvalid, "manifest has no media type: set Content-Type or mediaType")
	}
	var refs []string
	if h.Config != nil {
		refs = append(refs, h.Config.Digest)
	}
	for _, l := range h.Layers {
		refs = append(refs, l.Digest)
	}
	for _, m := range h.Manifests {
		refs = append(refs, m.Digest)
	}
	for _, d := range refs {
		if !r.HasBlob(d) {
			return "", errorf(http.StatusBadRequest, codeManifestBlobUnknown, "manifest references %s, which was not pushed first", d)
		}
	}
	sum := sha256.Sum256(data)
	digest := "sha256:" + hex.EncodeToString(sum[:])
	if digestRE.MatchString(ref) && ref != digest {
		return "", errorf(http.StatusBadRequest, codeDigestInvalid, "manifest has digest %s, not %s", digest, ref)
	}
	if _, err := r.putBlob(data); err != nil {
		return "", err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	dir := r.repoDir(name)
	if err := os.MkdirAll(filepath.Join(dir, "_manifests"), 0o700); err != nil {
		return "", fmt.Errorf("create repository: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "_tags"), 0o700); err != nil {
		return "", fmt.Errorf("create repository: %w", err)
	}
	if err := writeFileAtomic(filepath.Join(dir, "_manifests", strings.TrimPrefix(digest, "sha256:")), []byte(mediaType)); err != nil {
		return "", err
	}
	if !digestRE.MatchString(ref) {
		if err := writeFileAtomic(filepath.Join(dir, "_tags", ref), []byte(digest)); err != nil {
			return "", err
		}
	}
	r.log.Debug("manifest stored", "repository", name, "ref", ref, "digest", digest)
	return digest, nil
}

func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp-" + newUploadID()
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// resolve turns a tag or digest into a digest and media type.
func (r *Registry) resolve(name, ref string) (digest, mediaType string, err error) {
	dir := r.repoDir(name)
	digest = ref
	if !digestRE.MatchString(ref) {
		b, err := os.ReadFile(filepath.Join(dir, "_tags", ref))
		if errors.Is(err, fs.ErrNotExist) {
			if _, serr := os.Stat(dir); serr != nil {
				return "", "", errorf(http.StatusNotFound, codeNameUnknown, "repository %s is not in the registry; push it first (gureum image build or import)", name)
			}
			return "", "", errorf(http.StatusNotFound, codeManifestUnknown, "%s has no tag %q", name, ref)
		}
		if err != nil {
			return "", "", fmt.Errorf("read tag: %w", err)
		}
		digest = strings.TrimSpace(string(b))
	}
	mt, err := os.ReadFile(filepath.Join(dir, "_manifests", strings.TrimPrefix(digest, "sha256:")))
	if err != nil {
		return "", "", errorf(http.StatusNotFound, codeManifestUnknown, "%s has no manifest %s", name, digest)
	}
	return digest, string(mt), nil
}

func (r *Registry) deleteManifest(name, ref string, isDigest bool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	dir := r.repoDir(name)
	if !isDigest {
		if err := os.Remove(filepath.Join(dir, "_tags", ref)); err != nil {
			return errorf(http.StatusNotFound, codeManifestUnknown, "%s has no tag %q", name, ref)
		}
		return nil
	}
	if err := os.Remove(filepath.Join(dir, "_manifests", strings.TrimPrefix(ref, "sha256:"))); err != nil {
		return errorf(http.StatusNotFound, codeManifestUnknown, "%s has no manifest %s", name, ref)
	}
	// Tags pointing at a deleted manifest go with it.
	tags, _ := os.ReadDir(filepath.Join(dir, "_tags"))
	for _, t := range tags {
		if b, err := os.ReadFile(filepath.Join(dir, "_tags", t.Name())); err == nil && strings.TrimSpace(string(b)) == ref {
			_ = os.Remove(filepath.Join(dir, "_tags", t.Name()))
		}
	}
	return nil
}

// Tags lists a repository's tags, sorted.
func (r *Registry) Tags(name string) ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(r.repoDir(name), "_tags"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, errorf(http.StatusNotFound, codeNameUnknown, "repository %s is not in the registry", name)
	}
	if err != nil {
		return nil, fmt.Errorf("list tags: %w", err)
	}
	var tags []string
	for _, e := range entries {
		if !strings.Contains(e.Name(), ".tmp-") {
			tags = append(tags, e.Name())
		}
	}
	sort.Strings(tags)
	return tags, nil
}

func (r *Registry) serveTags(w http.ResponseWriter, req *http.Request, name string) error {
	tags, err := r.Tags(name)
	if err != nil {
		return err
	}
	tags = paginate(tags, req)
	w.Header().Set("Content-Type", "application/json")
	return json.NewEncoder(w).Encode(map[string]any{"name": name, "tags": nonNil(tags)})
}

// Repositories lists every repository holding at least one manifest.
func (r *Registry) Repositories() ([]string, error) {
	root := filepath.Join(r.dir, "repositories")
	var repos []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == "_manifests" {
			rel, _ := filepath.Rel(root, filepath.Dir(path))
			repos = append(repos, filepath.ToSlash(rel))
			return fs.SkipDir
		}
		if d.IsDir() && d.Name() == "_tags" {
			return fs.SkipDir
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list repositories: %w", err)
	}
	sort.Strings(repos)
	return repos, nil
}

func (r *Registry) serveCatalog(w http.ResponseWriter, req *http.Request) {
	repos, err := r.Repositories()
	if err != nil {
		writeError(w, err)
		return
	}
	repos = paginate(repos, req)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"repositories": nonNil(repos)})
}

// paginate applies the spec's n and last parameters to a sorted list.
func paginate(items []string, req *http.Request) []string {
	q := req.URL.Query()
	if last := q.Get("last"); last != "" {
		i := sort.SearchStrings(items, last)
		if i < len(items) && items[i] == last {
			i++
		}
		items = items[i:]
	}
	if n, err := strconv.Atoi(q.Get("n")); err == nil && n >= 0 && n < len(items) {
		items = items[:n]
	}
	return items
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
