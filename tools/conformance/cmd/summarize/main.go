// Command summarize turns Ginkgo JSON reports of the e2e suite into the
// closing counts of hack/conformance.sh and a Markdown table of specs.
//
//	summarize -specs dry-run.json [-report run.json] [-md table.md] [-failed failed.txt]
//
// -specs is the report of a --ginkgo.dry-run with the same focus/skip: it
// fixes the list of selected specs (a run whose BeforeSuite failed reports
// none). -report is the report of the real run; without it every spec's
// status is "not yet run". The last line printed is
// "conformance: N passed, N failed, N skipped".
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/onsi/ginkgo/v2/types"
)

func main() {
	specsPath := flag.String("specs", "", "Ginkgo JSON report of a dry run (required)")
	reportPath := flag.String("report", "", "Ginkgo JSON report of the real run (optional)")
	mdPath := flag.String("md", "", "write the Markdown table of specs here (optional)")
	failedPath := flag.String("failed", "", "write the names of specs that did not pass here, one a line (optional)")
	flag.Parse()
	if *specsPath == "" {
		fmt.Fprintln(os.Stderr, "summarize: -specs is required")
		os.Exit(2)
	}

	selected, _, err := load(*specsPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, "summarize:", err)
		os.Exit(2)
	}
	var names []string
	for name := range selected {
		names = append(names, name)
	}
	sort.Strings(names)

	status := map[string]string{}
	var suiteFailures []string
	ran := *reportPath != ""
	if ran {
		var results map[string]types.SpecReport
		results, suiteFailures, err = load(*reportPath)
		if err != nil {
			fmt.Fprintln(os.Stderr, "summarize:", err)
			os.Exit(2)
		}
		for name, r := range results {
			status[name] = stateName(r)
		}
	}

	passed, failed, skipped := 0, 0, 0
	var notPassed []string
	for _, name := range names {
		st, ok := status[name]
		switch {
		case !ran:
			st = "not yet run"
		case !ok:
			st = "not run"
			status[name] = st
		}
		switch {
		case !ran:
		case st == "passed":
			passed++
		case st == "skipped":
			skipped++
		default:
			failed++
			notPassed = append(notPassed, name)
		}
		status[name] = st
	}

	if *mdPath != "" {
		var b strings.Builder
		b.WriteString("| # | Spec | Source | Status |\n|---|------|--------|--------|\n")
		for i, name := range names {
			loc := selected[name].LeafNodeLocation
			src := fmt.Sprintf("%s:%d", filepath.Base(filepath.Dir(loc.FileName))+"/"+filepath.Base(loc.FileName), loc.LineNumber)
			fmt.Fprintf(&b, "| %d | %s | %s | %s |\n", i+1, strings.ReplaceAll(name, "|", `\|`), src, status[name])
		}
		if err := os.WriteFile(*mdPath, []byte(b.String()), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "summarize:", err)
			os.Exit(2)
		}
	}
	if *failedPath != "" {
		out := strings.Join(notPassed, "\n")
		if out != "" {
			out += "\n"
		}
		if err := os.WriteFile(*failedPath, []byte(out), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "summarize:", err)
			os.Exit(2)
		}
	}

	if !ran {
		fmt.Printf("%d specs selected\n", len(names))
		return
	}
	for _, f := range suiteFailures {
		fmt.Println("suite failure:", f)
	}
	if len(notPassed) > 0 {
		fmt.Println("specs that did not pass:")
		for _, name := range notPassed {
			fmt.Printf("  [%s] %s\n", status[name], name)
		}
	}
	fmt.Printf("conformance: %d passed, %d failed, %d skipped\n", passed, failed, skipped)
}

// load reads a Ginkgo JSON report and returns its selected It specs by full
// name, plus the failures of suite-level nodes (BeforeSuite and the like).
func load(path string) (map[string]types.SpecReport, []string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	var reports []types.Report
	if err := json.Unmarshal(data, &reports); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	specs := map[string]types.SpecReport{}
	var suiteFailures []string
	for _, rep := range reports {
		for _, r := range rep.SpecReports {
			if r.LeafNodeType != types.NodeTypeIt {
				if r.State.Is(types.SpecStateFailureStates) {
					suiteFailures = append(suiteFailures, fmt.Sprintf("[%s] %s: %s", r.LeafNodeType, r.State, firstLine(r.Failure.Message)))
				}
				continue
			}
			// Specs filtered out by focus/skip are reported as skipped
			// without ever being attempted.
			if r.State == types.SpecStateSkipped && r.NumAttempts == 0 {
				continue
			}
			specs[r.FullText()] = r
		}
	}
	return specs, suiteFailures, nil
}

func stateName(r types.SpecReport) string {
	switch r.State {
	case types.SpecStatePassed:
		return "passed"
	case types.SpecStateSkipped:
		return "skipped"
	case types.SpecStateFailed:
		return "failed"
	case types.SpecStateTimedout:
		return "timed out"
	case types.SpecStatePanicked:
		return "panicked"
	case types.SpecStateInterrupted:
		return "interrupted"
	case types.SpecStateAborted:
		return "aborted"
	case types.SpecStatePending:
		return "pending"
	}
	return r.State.String()
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
