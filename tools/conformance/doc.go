// Package conformance holds the e2e.test main; see e2e_test.go.
package conformance
