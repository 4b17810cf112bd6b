package apiserver

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/admission"

	"github.com/gureum/gureum/internal/api"
)

// defaultAgentPort is where agents serve logs and streams unless their Node
// says otherwise (the kubelet's port).
const defaultAgentPort = 10250

// nodeTransport dials agents with a client certificate from the cluster CA.
// Agents serve self-signed certificates, so theirs is not verified (as
// Kubernetes does without --kubelet-certificate-authority); the stream is
// still encrypted and the agent authenticates us.
func (s *Server) nodeTransport() (*http.Transport, error) {
	s.nodeTransportOnce.Do(func() {
		certPEM, keyPEM, err := s.cfg.CA.Issue("gureum-apiserver", []string{"system:masters"}, nil, 365*24*time.Hour)
		if err != nil {
			s.nodeTransportErr = err
			return
		}
		cert, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			s.nodeTransportErr = fmt.Errorf("load agent client certificate: %w", err)
			return
		}
		s.nodeTr = &http.Transport{
			TLSClientConfig: &tls.Config{
				Certificates:       []tls.Certificate{cert},
				InsecureSkipVerify: true, //nolint:gosec // see above
				NextProtos:         []string{"http/1.1"},
			},
			DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			TLSHandshakeTimeout: 10 * time.Second,
			MaxIdleConnsPerHost: 16,
			IdleConnTimeout:     90 * time.Second,
		}
	})
	return s.nodeTr, s.nodeTransportErr
}

// serveNodeProxy answers pods/log, exec, attach and portforward by relaying
// to the agent on the pod's node.
func (q *request) serveNodeProxy() {
	ctx := q.r.Context()
	obj, _, err := q.readCurrent(ctx, q.info.Namespace, q.info.Name)
	if err != nil {
		q.fail(err)
		return
	}
	pod := obj.(*corev1.Pod)
	query := q.r.URL.Query() // a copy: what the agent gets is changed below
	sub := q.info.Subresource
	container := query.Get("container")
	if sub != "portforward" {
		if container, err = pickContainer(pod, container); err != nil {
			q.fail(err)
			return
		}
		if sub == "log" && !isTrue(query.Get("previous")) {
			if msg := waitingMessage(pod, container); msg != "" {
				q.fail(apierrors.NewBadRequest(msg))
				return
			}
		}
	}
	if pod.Spec.NodeName == "" {
		q.fail(apierrors.NewBadRequest(fmt.Sprintf("pod %s does not have a host assigned", pod.Name)))
		return
	}
	if err := q.admitConnect(ctx); err != nil {
		q.fail(err)
		return
	}
	addr, err := q.s.agentAddress(pod.Spec.NodeName)
	if err != nil {
		q.fail(err)
		return
	}
	query.Del("container")
	var path string
	switch sub {
	case "log":
		query.Set("podUID", string(pod.UID))
		path = "/containerLogs/" + pod.Namespace + "/" + pod.Name + "/" + container
	case "exec", "attach":
		path = "/" + sub + "/" + pod.Namespace + "/" + pod.Name + "/" + string(pod.UID) + "/" + container
	case "portforward":
		path = "/portForward/" + pod.Namespace + "/" + pod.Name + "/" + string(pod.UID)
	}
	tr, err := q.s.nodeTransport()
	if err != nil {
		q.fail(err)
		return
	}
	target := &url.URL{Scheme: "https", Host: addr, Path: path, RawQuery: query.Encode()}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL = target
			pr.Out.Host = addr
			// Our credentials for the agent are the client certificate;
			// the caller's must not travel on.
			pr.Out.Header.Del("Authorization")
			for k := range pr.Out.Header {
				if strings.HasPrefix(k, "Impersonate-") {
					pr.Out.Header.Del(k)
				}
			}
		},
		Transport:     tr,
		FlushInterval: -1,
		ModifyResponse: func(resp *http.Response) error {
			if resp.StatusCode < 400 {
				return nil
			}
			// Agents answer errors in plain text; clients expect a Status.
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
			msg := strings.TrimSpace(string(body))
			st := &metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: metav1.StatusFailure,
				Code: int32(resp.StatusCode), Message: msg, Reason: reasonFor(resp.StatusCode)}
			b, _ := jsonMarshal(st)
			resp.Body = io.NopCloser(bytes.NewReader(b))
			resp.ContentLength = int64(len(b))
			resp.Header.Set("Content-Length", strconv.Itoa(len(b)))
			resp.Header.Set("Content-Type", "application/json")
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			writeError(w, r, apierrors.NewServiceUnavailable(fmt.Sprintf("cannot reach the agent on node %s at %s: %v (is the node up?)", pod.Spec.NodeName, addr, err)), q.gr, q.info.Name)
		},
	}
	rp.ServeHTTP(q.w, q.r)
}

func reasonFor(code int) metav1.StatusReason {
	switch code {
	case http.StatusNotFound:
		return metav1.StatusReasonNotFound
	case http.StatusBadRequest:
		return metav1.StatusReasonBadRequest
	case http.StatusForbidden, http.StatusUnauthorized:
		return metav1.StatusReasonForbidden
	}
	return metav1.StatusReasonInternalError
}

func isTrue(v string) bool { return v == "true" || v == "1" }

// pickContainer resolves the container a request is for, as Kubernetes
// does: the only one, the named one (init and ephemeral containers count),
// or an error listing the choices.
func pickContainer(pod *corev1.Pod, name string) (string, error) {
	var all []string
	for _, c := range pod.Spec.Containers {
		all = append(all, c.Name)
	}
	var others []string
	for _, c := range pod.Spec.InitContainers {
		others = append(others, c.Name)
	}
	for _, c := range pod.Spec.EphemeralContainers {
		others = append(others, c.Name)
	}
	if name == "" {
		if len(all) == 1 {
			return all[0], nil
		}
		msg := fmt.Sprintf("a container name must be specified for pod %s, choose one of: %v", pod.Name, all)
		if len(others) > 0 {
			msg += fmt.Sprintf(" or one of the init containers: %v", others)
		}
		return "", apierrors.NewBadRequest(msg)
	}
	if slices.Contains(all, name) || slices.Contains(others, name) {
		return name, nil
	}
	return "", apierrors.NewBadRequest(fmt.Sprintf("container %s is not valid for pod %s", name, pod.Name))
}

// waitingMessage is the error for logs of a container that has not started.
func waitingMessage(pod *corev1.Pod, container string) string {
	statuses := append(append([]corev1.ContainerStatus{}, pod.Status.InitContainerStatuses...), pod.Status.ContainerStatuses...)
	for _, cs := range statuses {
		if cs.Name != container {
			continue
		}
		if w := cs.State.Waiting; w != nil && cs.LastTerminationState.Terminated == nil && cs.State.Running == nil && cs.State.Terminated == nil {
			return fmt.Sprintf("container %q in pod %q is waiting to start: %s", container, pod.Name, w.Reason)
		}
		return ""
	}
	if pod.Status.Phase == corev1.PodPending {
		return fmt.Sprintf("container %q in pod %q is waiting to start: ContainerCreating", container, pod.Name)
	}
	return ""
}

// agentAddress is host:port of the agent on node.
func (s *Server) agentAddress(nodeName string) (string, error) {
	c := s.caches[schema.GroupVersionResource{Version: "v1", Resource: "nodes"}]
	e, ok := c.get(nodeName)
	var node *corev1.Node
	if ok {
		node, _ = entryAs[*corev1.Node](e)
	}
	if node == nil {
		return "", apierrors.NewNotFound(schema.GroupResource{Resource: "nodes"}, nodeName)
	}
	port := int(node.Status.DaemonEndpoints.KubeletEndpoint.Port)
	if port == 0 {
		port = defaultAgentPort
	}
	var host string
	for _, want := range []corev1.NodeAddressType{corev1.NodeInternalIP, corev1.NodeExternalIP, corev1.NodeHostName} {
		for _, a := range node.Status.Addresses {
			if a.Type == want && host == "" {
				host = a.Address
			}
		}
	}
	if host == "" {
		return "", apierrors.NewServiceUnavailable(fmt.Sprintf("node %s reports no address; is its agent running?", nodeName))
	}
	return net.JoinHostPort(host, strconv.Itoa(port)), nil
}

// admitConnect passes exec, attach and port-forward through admission as
// Kubernetes does (operation CONNECT, the options as the object), so a
// webhook or policy can refuse, say, attaching to some pods.
func (q *request) admitConnect(ctx context.Context) error {
	// The query carries the options; the scheme has no conversion from
	// query parameters for these kinds, so they are read here.
	query := q.r.URL.Query()
	flag := func(name string) bool { return isTrue(query.Get(name)) }
	var opts runtime.Object
	switch q.info.Subresource {
	case "exec":
		opts = &corev1.PodExecOptions{Stdin: flag("stdin"), Stdout: flag("stdout"), Stderr: flag("stderr"), TTY: flag("tty"),
			Container: query.Get("container"), Command: query["command"]}
	case "attach":
		opts = &corev1.PodAttachOptions{Stdin: flag("stdin"), Stdout: flag("stdout"), Stderr: flag("stderr"), TTY: flag("tty"),
			Container: query.Get("container")}
	case "portforward":
		pf := &corev1.PodPortForwardOptions{}
		for _, p := range query["ports"] {
			for _, part := range strings.Split(p, ",") {
				if n, err := strconv.ParseInt(strings.TrimSpace(part), 10, 32); err == nil {
					pf.Ports = append(pf.Ports, int32(n))
				}
			}
		}
		opts = pf
	default:
		return nil // logs are reads
	}
	gvks, _, err := api.Scheme.ObjectKinds(opts)
	if err != nil {
		return err
	}
	opts.GetObjectKind().SetGroupVersionKind(gvks[0])
	if _, err := q.s.mutate(ctx, q, admission.Connect, opts, nil); err != nil {
		return err
	}
	return q.s.validateAdmission(ctx, q, admission.Connect, opts, nil)
}
