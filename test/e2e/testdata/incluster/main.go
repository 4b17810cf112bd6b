// Command incluster is what an operator does first, run in a pod by the
// end-to-end tests: build client-go's in-cluster configuration (service
// environment variables, the mounted token and CA), ask the API server who
// it is and list the pods of its namespace. It prints one line of
// key=value results and exits non-zero on any failure.
package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "incluster:", err)
		os.Exit(1)
	}
}

func run() error {
	cfg, err := rest.InClusterConfig()
	if err != nil {
		return err
	}
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	who, err := c.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("who am I: %w", err)
	}
	ns, err := os.ReadFile("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
	if err != nil {
		return err
	}
	pods, err := c.CoreV1().Pods(string(ns)).List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("list pods: %w", err)
	}
	var links []string
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasSuffix(k, "_SERVICE_HOST") {
			links = append(links, k)
		}
	}
	fmt.Printf("host=%s user=%s pod=%s pods=%d env=%s\n", cfg.Host, who.Status.UserInfo.Username,
		strings.Join(who.Status.UserInfo.Extra["authentication.kubernetes.io/pod-name"], ","), len(pods.Items), strings.Join(links, ","))
	return nil
}
