package workqueue

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The editor test drives the YAML language server (the one behind VS
// Code's YAML extension, Neovim's yamlls and others) over stdio, as an
// editor does, and holds what it shows to what vet says: the schema an
// editor gets is only as good as what an editor makes of it.
//
// The server is installed from testdata/editor (package.json, and
// package-lock.json which pins every package) by npm ci into the cache;
// testdata/editor/install.sh does it, and .ci/run and make tools call it.

// yamlLanguageServer is the installed server's program, or a failure that
// says how to install it: a missing component fails the test, never skips.
func yamlLanguageServer(t *testing.T) string {
	t.Helper()
	return filepath.Join(editorDir(t), "node_modules", ".bin", "yaml-language-server")
}

// editorDir is where install.sh put the server and its dependencies.
func editorDir(t *testing.T) string {
	t.Helper()
	lock, err := os.ReadFile("testdata/editor/package-lock.json")
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(lock)
	cache := os.Getenv("JOBWQ_CACHE")
	if cache == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			t.Fatal(err)
		}
		cache = filepath.Join(home, ".cache", "jobwq")
	}
	dir := filepath.Join(cache, "yaml-language-server-"+hex.EncodeToString(sum[:])[:12])
	bin := filepath.Join(dir, "node_modules", ".bin", "yaml-language-server")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("the YAML language server is not installed at %s: run bash internal/workqueue/testdata/editor/install.sh (make tools and .ci/run do; it needs node and npm): %v", dir, err)
	}
	if _, err := exec.LookPath("node"); err != nil {
		t.Fatalf("node is required to run the YAML language server: %v", err)
	}
	return dir
}

// An lspClient speaks the Language Server Protocol to one server process.
type lspClient struct {
	t     *testing.T
	cmd   *exec.Cmd
	stdin io.WriteCloser

	mu      sync.Mutex
	nextID  int
	replies map[int]chan json.RawMessage
	diags   map[string][]lspDiagnostic // by document URI, the last published
	changed chan struct{}              // a diagnostics notification arrived
	stderr  bytes.Buffer
}

type lspDiagnostic struct {
	Range struct {
		Start struct{ Line, Character int } `json:"start"`
	} `json:"range"`
	Severity int    `json:"severity"`
	Message  string `json:"message"`
}

func (d lspDiagnostic) String() string {
	return fmt.Sprintf("%d:%d: %s", d.Range.Start.Line+1, d.Range.Start.Character+1, d.Message)
}

func startLanguageServer(t *testing.T, root string) *lspClient {
	t.Helper()
	c := &lspClient{t: t, replies: map[int]chan json.RawMessage{}, diags: map[string][]lspDiagnostic{}, changed: make(chan struct{}, 1)}
	c.cmd = exec.Command(yamlLanguageServer(t), "--stdio")
	c.cmd.Stderr = &c.stderr
	var err error
	if c.stdin, err = c.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := c.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.request("shutdown", nil)
		c.notify("exit", nil)
		done := make(chan error, 1)
		go func() { done <- c.cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			c.cmd.Process.Kill()
			<-done
		}
	})
	go c.read(bufio.NewReader(stdout))
	c.request("initialize", map[string]any{
		"processId": os.Getpid(),
		"rootUri":   fileURI(root),
		"capabilities": map[string]any{
			"textDocument": map[string]any{"publishDiagnostics": map[string]any{}},
			"workspace":    map[string]any{"configuration": true},
		},
	})
	c.notify("initialized", map[string]any{})
	c.notify("workspace/didChangeConfiguration", map[string]any{"settings": map[string]any{"yaml": yamlSettings}})
	return c
}

// yamlSettings are the editor's settings: validation on, nothing else.
var yamlSettings = map[string]any{"validate": true, "hover": false, "completion": false, "format": map[string]any{"enable": false}, "schemaStore": map[string]any{"enable": false}}

func fileURI(path string) string { return (&url.URL{Scheme: "file", Path: path}).String() }

func (c *lspClient) send(msg map[string]any) {
	msg["jsonrpc"] = "2.0"
	b, err := json.Marshal(msg)
	if err != nil {
		c.t.Fatal(err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	fmt.Fprintf(c.stdin, "Content-Length: %d\r\n\r\n%s", len(b), b)
}

func (c *lspClient) notify(method string, params any) {
	c.send(map[string]any{"method": method, "params": params})
}

// request sends a request and waits for its reply.
func (c *lspClient) request(method string, params any) json.RawMessage {
	c.mu.Lock()
	c.nextID++
	id := c.nextID
	reply := make(chan json.RawMessage, 1)
	c.replies[id] = reply
	c.mu.Unlock()
	c.send(map[string]any{"id": id, "method": method, "params": params})
	select {
	case r := <-reply:
		return r
	case <-time.After(time.Minute):
		c.t.Fatalf("the YAML language server did not answer %s within a minute; its stderr:\n%s", method, c.stderr.String())
		return nil
	}
}

// read handles what the server sends: replies, its requests to the editor
// (answered as an editor with these settings would) and diagnostics.
func (c *lspClient) read(r *bufio.Reader) {
	for {
		size := 0
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			line = strings.TrimSpace(line)
			if line == "" {
				break
			}
			if v, ok := strings.CutPrefix(line, "Content-Length: "); ok {
				size, _ = strconv.Atoi(v)
			}
		}
		body := make([]byte, size)
		if _, err := io.ReadFull(r, body); err != nil {
			return
		}
		var msg struct {
			ID     *json.RawMessage `json:"id"`
			Method string           `json:"method"`
			Params json.RawMessage  `json:"params"`
			Result json.RawMessage  `json:"result"`
		}
		if json.Unmarshal(body, &msg) != nil {
			continue
		}
		switch {
		case msg.Method == "" && msg.ID != nil:
			var id int
			json.Unmarshal(*msg.ID, &id)
			c.mu.Lock()
			reply := c.replies[id]
			delete(c.replies, id)
			c.mu.Unlock()
			if reply != nil {
				reply <- msg.Result
			}
		case msg.ID != nil:
			var result any
			if msg.Method == "workspace/configuration" {
				var p struct{ Items []struct{ Section string } }
				json.Unmarshal(msg.Params, &p)
				items := make([]any, len(p.Items))
				for i, it := range p.Items {
					if it.Section == "yaml" {
						items[i] = yamlSettings
					}
				}
				result = items
			}
			c.send(map[string]any{"id": msg.ID, "result": result})
		case msg.Method == "textDocument/publishDiagnostics":
			var p struct {
				URI         string          `json:"uri"`
				Diagnostics []lspDiagnostic `json:"diagnostics"`
			}
			json.Unmarshal(msg.Params, &p)
			c.mu.Lock()
			c.diags[p.URI] = p.Diagnostics
			c.mu.Unlock()
			select {
			case c.changed <- struct{}{}:
			default:
			}
		}
	}
}

// diagnose opens a document and returns what the server shows for it once
// it has validated it against the schema its modeline names, then closes
// it. The server publishes diagnostics for an opened document once it has
// its schema; a document gets them once.
func (c *lspClient) diagnose(path, text string) []lspDiagnostic {
	c.t.Helper()
	uri := fileURI(path)
	c.mu.Lock()
	delete(c.diags, uri)
	c.mu.Unlock()
	c.notify("textDocument/didOpen", map[string]any{"textDocument": map[string]any{"uri": uri, "languageId": "yaml", "version": 1, "text": text}})
	defer c.notify("textDocument/didClose", map[string]any{"textDocument": map[string]any{"uri": uri}})
	deadline := time.After(time.Minute)
	for {
		c.mu.Lock()
		d, ok := c.diags[uri]
		c.mu.Unlock()
		if ok {
			return d
		}
		select {
		case <-c.changed:
		case <-deadline:
			c.t.Fatalf("no diagnostics for %s within a minute; the server's stderr:\n%s", path, c.stderr.String())
		}
	}
}

// TestEditorSaysWhatVetSays holds the YAML language server, with the
// exported schema, to the table TestJSONSchemaSaysWhatVetSays holds a
// validator to: no diagnostic where vet accepts a spec (or refuses it for
// a reason the schema cannot state), at least one where it refuses it for
// a reason the schema states, and where the case says in which words, the
// editor shows those words, which vet's finding holds.
func TestEditorSaysWhatVetSays(t *testing.T) {
	dir := t.TempDir()
	schema, err := JSONSchema()
	if err != nil {
		t.Fatal(err)
	}
	schemaPath := filepath.Join(dir, "workqueue.schema.json")
	if err := os.WriteFile(schemaPath, schema, 0o644); err != nil {
		t.Fatal(err)
	}
	withoutItems, err := JSONSchemaWithoutItems()
	if err != nil {
		t.Fatal(err)
	}
	withoutItemsPath := filepath.Join(dir, "workqueue-without-items.schema.json")
	if err := os.WriteFile(withoutItemsPath, withoutItems, 0o644); err != nil {
		t.Fatal(err)
	}
	lsp := startLanguageServer(t, dir)
	for i, tc := range schemaCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			vetErr := tc.vet(t)
			text := "# yaml-language-server: $schema=workqueue.schema.json\n" + tc.spec
			got := lsp.diagnose(filepath.Join(dir, fmt.Sprintf("case-%03d.yaml", i)), text)
			switch {
			case (tc.valid || tc.vetOnly) && len(got) > 0:
				t.Errorf("the editor shows %v; vet says %v", got, vetErr)
			case !tc.valid && !tc.vetOnly && len(got) == 0:
				t.Errorf("vet refuses the spec (%v), the editor shows nothing", vetErr)
			case tc.msg != "":
				shown := false
				for _, d := range got {
					shown = shown || d.Message == tc.msg
				}
				if !shown {
					t.Errorf("the editor shows %v, not %q (vet: %v)", got, tc.msg, vetErr)
				}
			}
		})
	}

	// A spec whose items come from --items, with the schema for it.
	t.Run("without items", func(t *testing.T) {
		spec := strings.Replace(schemaBase, "  items: [apple, banana]\n", "", 1)
		if got := lsp.diagnose(filepath.Join(dir, "noitems.yaml"), "# yaml-language-server: $schema=workqueue-without-items.schema.json\n"+spec); len(got) > 0 {
			t.Errorf("with the schema without items, the editor shows %v", got)
		}
		if got := lsp.diagnose(filepath.Join(dir, "noitems2.yaml"), "# yaml-language-server: $schema=workqueue.schema.json\n"+spec); len(got) == 0 {
			t.Error("with the plain schema, the editor shows nothing for a spec without items")
		}
	})

	// The examples, with their own modeline (the committed schema).
	examples, _ := filepath.Glob("../../examples/*/workqueue.yaml")
	for _, p := range examples {
		t.Run(p, func(t *testing.T) {
			abs, err := filepath.Abs(p)
			if err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(abs)
			if err != nil {
				t.Fatal(err)
			}
			if got := lsp.diagnose(abs, string(b)); len(got) > 0 {
				t.Errorf("the editor shows %v", got)
			}
		})
	}
}

// TestExamplesReadTheSame: every example means the same to a YAML 1.1
// parser (PyYAML, js-yaml 3) as to a YAML 1.2 one (vet's, the YAML
// language server's): no defaultMode: 0o400 that one reads as a string,
// no yes that one reads as true. Both readings are the yaml package's,
// the YAML language server's own parser, told which version to read.
func TestExamplesReadTheSame(t *testing.T) {
	yamlPkg := filepath.Join(editorDir(t), "node_modules", "yaml")
	read := func(t *testing.T, version, text string) string {
		t.Helper()
		cmd := exec.Command("node", "-e", `
const YAML = require(process.argv[1]);
let src = "";
process.stdin.on("data", d => src += d).on("end", () =>
  process.stdout.write(JSON.stringify(YAML.parse(src, {version: process.argv[2]}))));`, yamlPkg, version)
		cmd.Stdin = strings.NewReader(text)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("yaml %s: %v", version, err)
		}
		return string(out)
	}
	if read(t, "1.1", "m: 0o400\n") == read(t, "1.2", "m: 0o400\n") {
		t.Fatal("YAML 1.1 and 1.2 read 0o400 the same here; the test would prove nothing")
	}
	paths, _ := filepath.Glob("../../examples/*/workqueue.yaml")
	if len(paths) == 0 {
		t.Fatal("no examples")
	}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if v11, v12 := read(t, "1.1", string(b)), read(t, "1.2", string(b)); v11 != v12 {
			t.Errorf("%s reads differently to YAML 1.1 and 1.2 parsers:\n1.1: %s\n1.2: %s", p, v11, v12)
		}
	}
}
