// Package jobtest holds test helpers for the Job and CronJob controllers.
// Only tests import it.
package jobtest

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// OutcomeAnnotation on a pod (usually set in a Job's template) tells the
// fake kubelet what the pod does: "Succeeded", "Failed" or "Running".
const OutcomeAnnotation = "jobtest.gureum.io/outcome"

// Outcome says which phase a pod should be in now: PodRunning keeps it
// running and ready, PodSucceeded or PodFailed ends it, "" leaves it alone.
// It is asked again on every poll, so a test can change its mind.
type Outcome func(pod *corev1.Pod) corev1.PodPhase

// ByAnnotation is the Outcome read from OutcomeAnnotation.
func ByAnnotation(pod *corev1.Pod) corev1.PodPhase {
	return corev1.PodPhase(pod.Annotations[OutcomeAnnotation])
}

// RunFakeKubelet plays the node for every pod in namespace ns until the
// test ends: there is no scheduler or kubelet in testenv, so it writes pod
// status the way a kubelet would (phase, Ready condition, container
// states with exit codes 0 or 1). It polls every 20ms.
func RunFakeKubelet(t testing.TB, client kubernetes.Interface, ns string, outcome Outcome) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			pods, err := client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
			if err != nil {
				continue
			}
			for i := range pods.Items {
				pod := &pods.Items[i]
				if pod.DeletionTimestamp != nil || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
					continue
				}
				want := outcome(pod)
				if want == "" || want == pod.Status.Phase {
					continue
				}
				SetPhase(pod, want, time.Now())
				_, err := client.CoreV1().Pods(ns).UpdateStatus(ctx, pod, metav1.UpdateOptions{})
				if err != nil && !apierrors.IsConflict(err) && !apierrors.IsNotFound(err) && ctx.Err() == nil {
					t.Logf("fake kubelet: update status of pod %s: %v", pod.Name, err)
				}
			}
		}
	}()
}

// SetPhase rewrites pod's status as a kubelet reports that phase.
func SetPhase(pod *corev1.Pod, phase corev1.PodPhase, now time.Time) {
	ts := metav1.NewTime(now.Truncate(time.Second))
	readyStatus := corev1.ConditionFalse
	if phase == corev1.PodRunning {
		readyStatus = corev1.ConditionTrue
	}
	pod.Status.Phase = phase
	if pod.Status.StartTime == nil {
		pod.Status.StartTime = &ts
	}
	pod.Status.Conditions = []corev1.PodCondition{
		{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: ts},
		{Type: corev1.PodReady, Status: readyStatus, LastTransitionTime: ts},
		{Type: corev1.ContainersReady, Status: readyStatus, LastTransitionTime: ts},
	}
	pod.Status.ContainerStatuses = nil
	for _, c := range pod.Spec.Containers {
		cs := corev1.ContainerStatus{Name: c.Name, Image: c.Image, ImageID: c.Image, Ready: phase == corev1.PodRunning}
		switch phase {
		case corev1.PodRunning:
			cs.State.Running = &corev1.ContainerStateRunning{StartedAt: ts}
			cs.Started = ptr(true)
		case corev1.PodSucceeded, corev1.PodFailed:
			code := int32(0)
			reason := "Completed"
			if phase == corev1.PodFailed {
				code, reason = 1, "Error"
			}
			cs.State.Terminated = &corev1.ContainerStateTerminated{ExitCode: code, Reason: reason, StartedAt: ts, FinishedAt: ts}
			cs.Started = ptr(false)
		}
		pod.Status.ContainerStatuses = append(pod.Status.ContainerStatuses, cs)
	}
}

func ptr[T any](v T) *T { return &v }
