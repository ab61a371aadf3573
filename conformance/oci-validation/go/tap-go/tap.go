// Package tap replaces github.com/mndrix/tap-go, which Debian does not
// package. Only what the runtime-tools validation code calls is provided,
// with the same names and output format (TAP version 13; YAML blocks are
// written as indented JSON, as upstream does without its "yaml" build tag).
package tap

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
)

// T writes one TAP stream.
type T struct {
	counter *int // shared with the producers returned by Todo
	// TODO adds a TODO directive to every test point written by this producer.
	TODO bool
	// Writer is where the stream goes; nil means standard output.
	Writer io.Writer
}

// New starts a producer whose next test point is number 1.
func New() *T {
	first := 1
	return &T{counter: &first}
}

func (t *T) out() io.Writer {
	if t.Writer != nil {
		return t.Writer
	}
	return os.Stdout
}

func (t *T) emit(format string, args ...interface{}) {
	fmt.Fprintf(t.out(), format, args...)
}

// flat keeps a description on the test point's line.
func flat(s string) string {
	return strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", " ")
}

// Header writes the version line and, for a positive count, the plan.
func (t *T) Header(testCount int) {
	t.emit("TAP version 13\n")
	if testCount > 0 {
		t.emit("1..%d\n", testCount)
	}
}

// Ok writes a passing or failing test point.
func (t *T) Ok(test bool, description string) {
	status := "ok"
	if !test {
		status = "not ok"
	}
	if t.TODO {
		t.emit("%s %d # TODO %s\n", status, *t.counter, flat(description))
	} else {
		t.emit("%s %d - %s\n", status, *t.counter, flat(description))
	}
	*t.counter++
}

// Pass writes a passing test point.
func (t *T) Pass(description string) { t.Ok(true, description) }

// Fail writes a failing test point.
func (t *T) Fail(description string) { t.Ok(false, description) }

// Skip writes count skipped test points.
func (t *T) Skip(count int, description string) {
	for i := 0; i < count; i++ {
		t.emit("ok %d # SKIP %s\n", *t.counter, flat(description))
		*t.counter++
	}
}

// Todo returns a producer that shares the numbering and marks its points TODO.
func (t *T) Todo() *T {
	todo := *t
	todo.TODO = true
	return &todo
}

// Count is the number of test points written so far.
func (t *T) Count() int { return *t.counter - 1 }

// AutoPlan writes a plan that matches the test points written so far.
func (t *T) AutoPlan() { t.emit("1..%d\n", t.Count()) }

// Diagnostic writes a comment; every line of message is prefixed with "# ".
func (t *T) Diagnostic(message string) {
	lines := strings.Split(strings.TrimRight(message, "\n"), "\n")
	for _, l := range lines {
		t.emit("# %s\n", l)
	}
}

// Diagnosticf is Diagnostic with formatting.
func (t *T) Diagnosticf(format string, args ...interface{}) {
	t.Diagnostic(fmt.Sprintf(format, args...))
}

// YAML writes a YAML block for the previous test point (JSON is a YAML subset).
func (t *T) YAML(message interface{}) error {
	doc, err := json.MarshalIndent(message, "  ", "  ")
	if err != nil {
		return err
	}
	t.emit("  ---\n  %s\n  ...\n", doc)
	return nil
}
