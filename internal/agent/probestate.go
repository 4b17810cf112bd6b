package agent

import (
	"time"

	v1 "k8s.io/api/core/v1"
)

// probeType is one of the three kinds of container probe.
type probeType uint8

const (
	probeLiveness probeType = iota
	probeReadiness
	probeStartup
)

var probeTypes = []probeType{probeLiveness, probeReadiness, probeStartup}

// String is the probe's name as the kubelet words it in events.
func (t probeType) String() string {
	switch t {
	case probeLiveness:
		return "Liveness"
	case probeReadiness:
		return "Readiness"
	case probeStartup:
		return "Startup"
	}
	return "Unknown"
}

// probeSpec is the container's probe of type t (nil when it has none).
func probeSpec(c *v1.Container, t probeType) *v1.Probe {
	switch t {
	case probeLiveness:
		return c.LivenessProbe
	case probeReadiness:
		return c.ReadinessProbe
	case probeStartup:
		return c.StartupProbe
	}
	return nil
}

// probeResult is the outcome of one probe, or the published state of a
// probe worker.
type probeResult uint8

const (
	resultUnknown probeResult = iota
	resultSuccess
	resultFailure
)

func (r probeResult) String() string {
	switch r {
	case resultSuccess:
		return "success"
	case resultFailure:
		return "failure"
	}
	return "unknown"
}

// probeKey names the published result of one probe of one container
// instance: a restarted container has a new ID, so its probes start over.
type probeKey struct {
	ContainerID string
	Type        probeType
}

// probeResults is a snapshot of published probe results. A missing key
// means the probe has not published anything yet: its initial value.
type probeResults map[probeKey]probeResult

// initialResult is what a probe reports before its thresholds are met:
// a container is not ready until its readiness probe succeeds, alive
// until its liveness probe fails, and not started until its startup
// probe succeeds.
func initialResult(t probeType) probeResult {
	switch t {
	case probeLiveness:
		return resultSuccess
	case probeReadiness:
		return resultFailure
	}
	return resultUnknown
}

// get returns the published result, or the probe type's initial value.
func (r probeResults) get(id string, t probeType) probeResult {
	if res, ok := r[probeKey{id, t}]; ok {
		return res
	}
	return initialResult(t)
}

// probeParams are a probe's timings and thresholds with the API's defaults.
type probeParams struct {
	InitialDelay, Period, Timeout      time.Duration
	SuccessThreshold, FailureThreshold int32
}

func paramsFor(p *v1.Probe, t probeType) probeParams {
	pp := probeParams{
		InitialDelay:     time.Duration(p.InitialDelaySeconds) * time.Second,
		Period:           time.Duration(p.PeriodSeconds) * time.Second,
		Timeout:          time.Duration(p.TimeoutSeconds) * time.Second,
		SuccessThreshold: p.SuccessThreshold,
		FailureThreshold: p.FailureThreshold,
	}
	if pp.Period <= 0 {
		pp.Period = 10 * time.Second
	}
	if pp.Timeout <= 0 {
		pp.Timeout = time.Second
	}
	if pp.SuccessThreshold <= 0 || t != probeReadiness {
		// Validation requires 1 for liveness and startup probes.
		pp.SuccessThreshold = 1
	}
	if pp.FailureThreshold <= 0 {
		pp.FailureThreshold = 3
	}
	return pp
}

// probeCounter is one probe worker's threshold state: the result it has
// published and the run of equal results that led there.
type probeCounter struct {
	Published probeResult
	last      probeResult
	run       int32
}

func newProbeCounter(t probeType) probeCounter {
	return probeCounter{Published: initialResult(t)}
}

// observe counts one probe outcome. The published result flips only after
// SuccessThreshold consecutive successes or FailureThreshold consecutive
// failures, as the kubelet's worker does. publish says the thresholds were
// met (the result is (re)published, possibly unchanged); changed says the
// published value differs from before.
func (c probeCounter) observe(r probeResult, p probeParams) (next probeCounter, publish, changed bool) {
	if r == c.last {
		c.run++
	} else {
		c.last, c.run = r, 1
	}
	if (r == resultFailure && c.run < p.FailureThreshold) || (r == resultSuccess && c.run < p.SuccessThreshold) {
		return c, false, false
	}
	changed = c.Published != r
	c.Published = r
	return c, true, changed
}

// stopsProbing says whether a worker's published result ends its work on
// this container instance: a failed liveness or startup probe gets the
// container killed (its successor has new workers), and a startup probe
// that succeeded is never run again.
func stopsProbing(t probeType, published probeResult) bool {
	switch t {
	case probeLiveness:
		return published == resultFailure
	case probeStartup:
		return published != resultUnknown
	}
	return false
}

// startupDone says whether liveness and readiness probes of a container
// instance may run: it has no startup probe, or that probe has succeeded.
func startupDone(c *v1.Container, id string, res probeResults) bool {
	return c.StartupProbe == nil || res.get(id, probeStartup) == resultSuccess
}

// containerProbeStatus is a running container's started and ready fields,
// as the kubelet reports them: started once its startup probe (if any)
// succeeded; ready once started and its readiness probe (if any)
// succeeded.
func containerProbeStatus(c *v1.Container, id string, res probeResults) (started, ready bool) {
	started = startupDone(c, id, res)
	ready = started && (c.ReadinessProbe == nil || res.get(id, probeReadiness) == resultSuccess)
	return started, ready
}

// probeKill says whether a running container instance must be killed
// because a probe failed, and which one.
func probeKill(c *v1.Container, id string, res probeResults) (probeType, bool) {
	if c.StartupProbe != nil && res.get(id, probeStartup) == resultFailure {
		return probeStartup, true
	}
	if c.LivenessProbe != nil && res.get(id, probeLiveness) == resultFailure {
		return probeLiveness, true
	}
	return 0, false
}
