package report

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/jobwq/jobwq/internal/policy"
	"github.com/jobwq/jobwq/internal/position"
)

var (
	job = policy.Object{Kind: "Job", Namespace: "batch", Name: "job-wq"}
	rc  = policy.Object{Kind: "ReplicationController", Name: "broker"}

	results = []policy.Result{
		{Object: job, Pos: position.Position{File: "a.yaml", Line: 1, Column: 1}, Findings: []policy.Finding{
			{Rule: "image-tag", Severity: policy.Error, Message: "not pinned", Fix: "pin it",
				Pos: position.Position{File: "a.yaml", Line: 9, Column: 9}, Object: job},
			{Rule: "credentials-in-url", Severity: policy.Error, Message: "credentials <in> & URL", Fix: "use a Secret",
				Pos: position.Position{File: "a.yaml", Line: 3, Column: 11}, Object: job},
		}},
		{Object: policy.Object{Kind: "Pod", Name: "ok"}, Pos: position.Position{File: "a.yaml", Line: 20, Column: 1}},
		{Object: rc, Pos: position.Position{File: "b.yaml", Line: 1, Column: 1}, Findings: []policy.Finding{
			{Rule: "deprecated-replication-controller", Severity: policy.Warning, Message: "superseded", Fix: "use a Deployment",
				Pos: position.Position{File: "b.yaml", Line: 2, Column: 1}, Object: rc},
		}},
	}
	rules = []policy.Rule{
		{ID: "credentials-in-url", Severity: policy.Error, Message: "a URL carries credentials", Fix: "use a Secret"},
		{ID: "image-tag", Severity: policy.Error, Message: "image not pinned", Fix: "pin it"},
	}
)

func render(t *testing.T, format string, opts Options) []byte {
	return renderWith(t, format, opts, nil)
}

func renderWith(t *testing.T, format string, opts Options, unchecked []*position.Error) []byte {
	t.Helper()
	var b bytes.Buffer
	f, err := New(format, &b, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range results {
		if err := f.Checked(r); err != nil {
			t.Fatal(err)
		}
	}
	for _, e := range unchecked {
		if err := f.Unchecked(e); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.Flush(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestUnknownFormat(t *testing.T) {
	if _, err := New("yaml", &bytes.Buffer{}, Options{}); err == nil || !strings.Contains(err.Error(), "text, json, junit, sarif") {
		t.Errorf("err = %v", err)
	}
}

func TestDeterministic(t *testing.T) {
	for _, format := range Formats {
		a := render(t, format, Options{Rules: rules})
		b := render(t, format, Options{Rules: rules})
		if !bytes.Equal(a, b) {
			t.Errorf("%s: two runs differ", format)
		}
	}
}

func TestText(t *testing.T) {
	got := string(render(t, "text", Options{}))
	want := `a.yaml:3:11: error credentials-in-url: credentials <in> & URL (Job batch/job-wq) — use a Secret
a.yaml:9:9: error image-tag: not pinned (Job batch/job-wq) — pin it
b.yaml:2:1: warning deprecated-replication-controller: superseded (ReplicationController broker) — use a Deployment
3 objects, 3 findings: 2 errors, 1 warning
`
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestJSON(t *testing.T) {
	var r struct {
		Objects  int
		Summary  map[string]int
		Findings []policy.Finding
	}
	if err := json.Unmarshal(render(t, "json", Options{}), &r); err != nil {
		t.Fatal(err)
	}
	if r.Objects != 3 || r.Summary["error"] != 2 || r.Summary["warning"] != 1 || r.Summary["info"] != 0 {
		t.Errorf("counts: %+v", r)
	}
	if len(r.Findings) != 3 || r.Findings[0].Rule != "credentials-in-url" || r.Findings[0].Severity != policy.Error {
		t.Errorf("findings: %+v", r.Findings)
	}

	var b bytes.Buffer
	f, _ := New("json", &b, Options{})
	f.Flush()
	if !strings.Contains(b.String(), `"findings": []`) || !json.Valid(b.Bytes()) {
		t.Errorf("no findings must be an empty list:\n%s", b.String())
	}
}

func TestJUnit(t *testing.T) {
	out := render(t, "junit", Options{FailOn: policy.Error})
	var doc struct {
		Tests    int `xml:"tests,attr"`
		Failures int `xml:"failures,attr"`
		Suites   []struct {
			Name  string `xml:"name,attr"`
			Cases []struct {
				Name    string `xml:"name,attr"`
				Failure *struct {
					Message string `xml:"message,attr"`
					Type    string `xml:"type,attr"`
					Data    string `xml:",chardata"`
				} `xml:"failure"`
				SystemOut string `xml:"system-out"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if !bytes.HasPrefix(out, []byte(xml.Header)) {
		t.Error("no XML header")
	}
	if err := xml.Unmarshal(out, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Tests != 3 || doc.Failures != 1 || len(doc.Suites) != 2 || doc.Suites[0].Name != "a.yaml" {
		t.Fatalf("shape:\n%s", out)
	}
	c := doc.Suites[0].Cases[0]
	if c.Name != "Job batch/job-wq" || c.Failure == nil || c.Failure.Type != "error" || c.Failure.Message != "2 findings at a.yaml:1:1" ||
		!strings.HasPrefix(c.Failure.Data, "a.yaml:3:11: error credentials-in-url: credentials <in> & URL — use a Secret\n") {
		t.Errorf("failing case: %+v", c)
	}
	// A warning below --fail-on is output, not a failure.
	w := doc.Suites[1].Cases[0]
	if w.Failure != nil || !strings.Contains(w.SystemOut, "warning deprecated-replication-controller") {
		t.Errorf("warning case: %+v", w)
	}
	if strings.Contains(string(out), "timestamp") {
		t.Error("JUnit output carries a timestamp")
	}
}

func TestSARIF(t *testing.T) {
	out := render(t, "sarif", Options{Rules: rules, Version: "v1.2.3"})
	var log struct {
		Version string `json:"version"`
		Runs    []struct {
			Tool struct {
				Driver struct {
					Name    string `json:"name"`
					Version string `json:"version"`
					Rules   []struct {
						ID string `json:"id"`
					} `json:"rules"`
				} `json:"driver"`
			} `json:"tool"`
			Results []struct {
				RuleID    string `json:"ruleId"`
				RuleIndex *int   `json:"ruleIndex"`
				Level     string `json:"level"`
				Locations []struct {
					PhysicalLocation struct {
						ArtifactLocation struct {
							URI string `json:"uri"`
						} `json:"artifactLocation"`
						Region struct {
							StartLine   int `json:"startLine"`
							StartColumn int `json:"startColumn"`
						} `json:"region"`
					} `json:"physicalLocation"`
				} `json:"locations"`
			} `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal(out, &log); err != nil {
		t.Fatal(err)
	}
	if log.Version != "2.1.0" || len(log.Runs) != 1 || log.Runs[0].Tool.Driver.Version != "v1.2.3" {
		t.Fatalf("log: %+v", log)
	}
	run := log.Runs[0]
	var got []string
	for _, r := range run.Results {
		l := r.Locations[0].PhysicalLocation
		indexed := "(none)"
		if r.RuleIndex != nil {
			indexed = run.Tool.Driver.Rules[*r.RuleIndex].ID
		}
		got = append(got, r.Level+" "+indexed+" "+r.RuleID+" "+l.ArtifactLocation.URI+
			" "+strings.Repeat("|", l.Region.StartLine)+" "+strings.Repeat(".", l.Region.StartColumn))
	}
	want := []string{
		"error credentials-in-url credentials-in-url a.yaml ||| ...........",
		"error image-tag image-tag a.yaml ||||||||| .........",
		// A rule outside the table has no index, rather than a wrong one.
		"warning (none) deprecated-replication-controller b.yaml || .",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if strings.Contains(string(out), "Time") {
		t.Error("SARIF output carries a time")
	}
	if got := artifactURI("overlays/deployment (kustomize build)"); got != "overlays/deployment%20%28kustomize%20build%29" && got != "overlays/deployment%20(kustomize%20build)" {
		t.Errorf("artifactURI = %q", got)
	}
}

// Standard input and an in-process kustomize build are no files: their
// SARIF locations do not pretend to be; a run always names its version.
func TestSARIFNonFiles(t *testing.T) {
	var b bytes.Buffer
	f, err := New("sarif", &b, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range []string{"<stdin>", "app (kustomize build)"} {
		pos := position.Position{File: file, Line: 2, Column: 3}
		f.Checked(policy.Result{Object: job, Pos: pos, Findings: []policy.Finding{{Rule: "image-tag", Severity: policy.Error, Pos: pos, Object: job}}})
	}
	if _, err := f.Flush(); err != nil {
		t.Fatal(err)
	}
	var log struct {
		Runs []struct {
			Tool struct {
				Driver struct{ Version string } `json:"driver"`
			} `json:"tool"`
			Results []struct {
				Locations []struct {
					PhysicalLocation struct {
						ArtifactLocation struct {
							URI         *string               `json:"uri"`
							Description struct{ Text string } `json:"description"`
						} `json:"artifactLocation"`
					} `json:"physicalLocation"`
				} `json:"locations"`
			} `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal(b.Bytes(), &log); err != nil {
		t.Fatal(err)
	}
	run := log.Runs[0]
	if run.Tool.Driver.Version != "devel" {
		t.Errorf("driver.version = %q, want devel", run.Tool.Driver.Version)
	}
	stdin := run.Results[0].Locations[0].PhysicalLocation.ArtifactLocation // sorted by file: "<" before "a"
	if stdin.URI != nil || !strings.HasPrefix(stdin.Description.Text, "standard input") {
		t.Errorf("stdin location: uri %v, description %q", stdin.URI, stdin.Description.Text)
	}
	built := run.Results[1].Locations[0].PhysicalLocation.ArtifactLocation
	if built.URI == nil || *built.URI != "app/" || !strings.Contains(built.Description.Text, "kubectl kustomize app") {
		t.Errorf("kustomize location: uri %v, description %q", built.URI, built.Description.Text)
	}
}

// JUnit XML holds no control characters, which a manifest's names may
// carry: they become U+FFFD, in CDATA as in attributes.
func TestJUnitControlCharacters(t *testing.T) {
	var b bytes.Buffer
	f, err := New("junit", &b, Options{FailOn: policy.Warning})
	if err != nil {
		t.Fatal(err)
	}
	obj := policy.Object{Kind: "Pod", Name: "a\x1bb\x00c"}
	pos := position.Position{File: "p.yaml", Line: 1, Column: 1}
	f.Checked(policy.Result{Object: obj, Pos: pos, Findings: []policy.Finding{{Rule: "image-tag", Severity: policy.Error, Message: "runs x\x01y", Pos: pos, Object: obj}}})
	if _, err := f.Flush(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []byte{0x00, 0x01, 0x1b} {
		if bytes.IndexByte(b.Bytes(), c) >= 0 {
			t.Errorf("output holds control character %#x:\n%s", c, b.String())
		}
	}
	d := xml.NewDecoder(&b)
	for {
		_, err := d.Token()
		if err != nil {
			if err.Error() != "EOF" {
				t.Errorf("not well-formed XML: %v", err)
			}
			break
		}
	}
}

// Every format says what could not be checked, where: a report with no
// findings is never mistaken for a clean run. SARIF marks the invocation
// unsuccessful with a notification at each input and stays valid against
// the SARIF 2.1.0 schema; JUnit has a case in error; JSON an entry; text
// counts them.
func TestUncheckedInEveryFormat(t *testing.T) {
	unchecked := []*position.Error{
		{Pos: position.Position{File: "a.yaml", Line: 30, Column: 3}, Msg: `duplicate key "hostNetwork" (first at line 28)`},
		{Pos: position.Position{File: "c.yaml"}, Msg: "cannot read: permission denied"},
	}
	out := renderWith(t, "sarif", Options{Rules: rules}, unchecked)
	validateSARIF(t, out)
	var log struct {
		Runs []struct {
			Invocations []struct {
				ExecutionSuccessful bool `json:"executionSuccessful"`
				Notifications       []struct {
					Level     string `json:"level"`
					Message   struct{ Text string }
					Locations []struct {
						PhysicalLocation struct {
							ArtifactLocation struct{ URI string }
							Region           struct{ StartLine int }
						} `json:"physicalLocation"`
					} `json:"locations"`
				} `json:"toolExecutionNotifications"`
			} `json:"invocations"`
			Results []json.RawMessage `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal(out, &log); err != nil {
		t.Fatal(err)
	}
	inv := log.Runs[0].Invocations
	if len(inv) != 1 || inv[0].ExecutionSuccessful || len(inv[0].Notifications) != 2 {
		t.Fatalf("invocations: %+v", inv)
	}
	n := inv[0].Notifications[0]
	if n.Level != "error" || !strings.Contains(n.Message.Text, "duplicate key") || n.Locations[0].PhysicalLocation.ArtifactLocation.URI != "a.yaml" || n.Locations[0].PhysicalLocation.Region.StartLine != 30 {
		t.Errorf("notification: %+v", n)
	}
	if len(log.Runs[0].Results) != 3 {
		t.Errorf("%d results, want the 3 findings", len(log.Runs[0].Results))
	}
	// A clean run is successful, and valid too.
	clean := renderWith(t, "sarif", Options{Rules: rules}, nil)
	validateSARIF(t, clean)
	if !strings.Contains(string(clean), `"executionSuccessful": true`) {
		t.Errorf("a run that checked everything is not successful:\n%s", clean)
	}

	var doc struct {
		Errors int `xml:"errors,attr"`
		Suites []struct {
			Name   string `xml:"name,attr"`
			Errors int    `xml:"errors,attr"`
			Cases  []struct {
				Name  string `xml:"name,attr"`
				Error *struct {
					Message string `xml:"message,attr"`
				} `xml:"error"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	junitOut := renderWith(t, "junit", Options{}, unchecked)
	if err := xml.Unmarshal(junitOut, &doc); err != nil {
		t.Fatal(err)
	}
	var errs []string
	for _, s := range doc.Suites {
		for _, c := range s.Cases {
			if c.Error != nil {
				errs = append(errs, s.Name+" "+c.Name+": "+c.Error.Message)
			}
		}
	}
	want := []string{
		`a.yaml not checked: a.yaml:30:3: duplicate key "hostNetwork" (first at line 28)`,
		"c.yaml not checked: c.yaml: cannot read: permission denied",
	}
	if diff := cmp.Diff(want, errs); diff != "" || doc.Errors != 2 {
		t.Errorf("JUnit error cases (%d errors) (-want +got):\n%s\n%s", doc.Errors, diff, junitOut)
	}

	var r struct {
		Unchecked []struct {
			Position position.Position
			Message  string
		}
	}
	if err := json.Unmarshal(renderWith(t, "json", Options{}, unchecked), &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Unchecked) != 2 || r.Unchecked[0].Position.Line != 30 || r.Unchecked[1].Message != "cannot read: permission denied" {
		t.Errorf("JSON unchecked: %+v", r.Unchecked)
	}

	if text := string(renderWith(t, "text", Options{}, unchecked)); !strings.HasSuffix(text, "; 2 inputs not checked\n") {
		t.Errorf("text summary does not count what was not checked:\n%s", text)
	}
}

// validateSARIF fails unless out is valid against the SARIF 2.1.0 schema
// (testdata/sarif-2.1.0-rtm.5.json, as @microsoft/jest-sarif ships it).
func validateSARIF(t *testing.T, out []byte) {
	t.Helper()
	f, err := os.Open("testdata/sarif-2.1.0-rtm.5.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	schemaDoc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("sarif.json", schemaDoc); err != nil {
		t.Fatal(err)
	}
	schema, err := c.Compile("sarif.json")
	if err != nil {
		t.Fatal(err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	if err := schema.Validate(inst); err != nil {
		t.Errorf("not valid SARIF 2.1.0: %v\n%s", err, out)
	}
}
