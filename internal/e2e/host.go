package e2e

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
)

// hostState is what a node run may change on the machine outside its own
// directory: Start records it first, Stop puts it back, and the suite
// compares the two to prove that teardown left nothing behind.
type hostState struct {
	// Sysctls are the writable kernel parameters (kubelet sets
	// vm.overcommit_memory, kernel.panic, kernel.panic_on_oops and more;
	// the bridge plugin net.ipv4.ip_forward).
	Sysctls map[string]string `json:"sysctls"`
	// Rules are iptables-save's lines per family and table, and Tables the
	// nftables tables (iptables here is the nf_tables backend, so a table
	// the run made is left behind even when empty).
	Rules  map[string][]string `json:"rules"`
	Tables []string            `json:"tables"`
	// Links are the network interfaces' names.
	Links []string `json:"links"`
	// Paths are the global places the node's programs write whatever
	// their configuration says, and whether each existed.
	Paths map[string]bool `json:"paths"`
	// Cgroups are the top-level kubepods cgroups (cgroup v1, one per
	// controller) that existed.
	Cgroups []string `json:"cgroups"`
}

// globalPaths are written by the kubelet, containerd or CNI even when
// their own directories are elsewhere: removed on teardown if the run
// created them.
var globalPaths = []string{
	"/var/lib/cni",            // libcni's result cache
	"/var/log/containers",     // the kubelet's legacy log symlinks
	"/var/log/pods",           // the kubelet's pod logs, if podLogsDir were ignored
	"/var/lib/kubelet",        // the kubelet's default root
	"/var/lib/containerd",     // containerd's default root
	"/run/containerd",         // shim sockets live under /run/containerd/s
	"/run/netns",              // CNI network namespaces when not under containerd's state
	"/opt/containerd",         // containerd's opt plugin
	"/etc/cni",                // CNI's default configuration directory
	"/usr/libexec/kubernetes", // the kubelet's default flexvolume directory
}

// volatileSysctls change by themselves, or are not settings at all.
var volatileSysctls = []string{
	"kernel/ns_last_pid",
	"kernel/random/",
	"fs/binfmt_misc/",
	"kernel/sched_domain/",
	"net/ipv4/neigh/",
	"net/ipv6/neigh/",
	"vm/stat_refresh",
	"kernel/perf_event_max_sample_rate", // the kernel lowers it under load
	"kernel/tainted",                    // bits only ever get added
}

func snapshotHost() (*hostState, error) {
	s := &hostState{Rules: map[string][]string{}, Paths: map[string]bool{}}
	var errs []error
	var err error
	if s.Sysctls, err = readSysctls(); err != nil {
		errs = append(errs, err)
	}
	for _, family := range []string{"iptables", "ip6tables"} {
		rules, err := saveRules(family)
		if err != nil {
			errs = append(errs, err)
		}
		for table, lines := range rules {
			s.Rules[family+"/"+table] = lines
		}
	}
	if s.Tables, err = nftTables(); err != nil {
		errs = append(errs, err)
	}
	if s.Links, err = links(); err != nil {
		errs = append(errs, err)
	}
	for _, p := range globalPaths {
		_, err := os.Lstat(p)
		s.Paths[p] = err == nil
	}
	s.Cgroups, _ = filepath.Glob("/sys/fs/cgroup/*/kubepods")
	return s, errors.Join(errs...)
}

// readSysctls reads every writable, readable parameter under /proc/sys
// except per-interface ones (interfaces come and go with pods) and the
// volatile ones.
func readSysctls() (map[string]string, error) {
	m := map[string]string{}
	err := filepath.WalkDir("/proc/sys", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // a directory that vanished or that we may not read
		}
		key := strings.TrimPrefix(p, "/proc/sys/")
		if d.IsDir() {
			if perInterface(key) || volatile(key+"/") {
				return filepath.SkipDir
			}
			return nil
		}
		if volatile(key) {
			return nil
		}
		fi, err := d.Info()
		if err != nil || fi.Mode().Perm()&0o200 == 0 || fi.Mode().Perm()&0o400 == 0 {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil // readable in mode only (e.g. needs a capability)
		}
		m[key] = string(b)
		return nil
	})
	return m, err
}

func perInterface(key string) bool {
	for _, prefix := range []string{"net/ipv4/conf/", "net/ipv6/conf/"} {
		if rest, ok := strings.CutPrefix(key, prefix); ok && rest != "" && !strings.Contains(rest, "/") {
			return rest != "all" && rest != "default"
		}
	}
	return false
}

func volatile(key string) bool {
	for _, v := range volatileSysctls {
		if key == v || (strings.HasSuffix(v, "/") && strings.HasPrefix(key, v)) {
			return true
		}
	}
	return false
}

// saveRules returns iptables-save's chain and rule lines per table.
func saveRules(family string) (map[string][]string, error) {
	out, err := exec.Command(family + "-save").Output()
	if err != nil {
		return nil, fmt.Errorf("%s-save: %w", family, err)
	}
	rules := map[string][]string{}
	table := ""
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "*"):
			table = line[1:]
			rules[table] = []string{}
		case strings.HasPrefix(line, ":"):
			// ":CHAIN POLICY [packets:bytes]": the counters change.
			f := strings.Fields(line)
			rules[table] = append(rules[table], f[0]+" "+f[1])
		case strings.HasPrefix(line, "-A "):
			rules[table] = append(rules[table], line)
		}
	}
	return rules, sc.Err()
}

func nftTables() ([]string, error) {
	out, err := exec.Command("nft", "list", "tables").Output()
	if err != nil {
		return nil, fmt.Errorf("nft list tables: %w", err)
	}
	var tables []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if t, ok := strings.CutPrefix(line, "table "); ok {
			tables = append(tables, t)
		}
	}
	slices.Sort(tables)
	return tables, nil
}

func links() ([]string, error) {
	entries, err := os.ReadDir("/sys/class/net")
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names, nil
}

// diff describes how now differs from s, one line per difference.
func (s *hostState) diff(now *hostState) []string {
	var d []string
	for _, k := range sortedKeys(s.Sysctls) {
		if v, ok := now.Sysctls[k]; ok && v != s.Sysctls[k] {
			d = append(d, fmt.Sprintf("sysctl %s = %q, was %q", strings.ReplaceAll(k, "/", "."), strings.TrimSpace(v), strings.TrimSpace(s.Sysctls[k])))
		}
	}
	for _, k := range sortedKeys(now.Rules) {
		for _, line := range now.Rules[k] {
			if !slices.Contains(s.Rules[k], line) {
				d = append(d, fmt.Sprintf("%s: %s was not there", k, line))
			}
		}
	}
	for _, t := range now.Tables {
		if !slices.Contains(s.Tables, t) {
			d = append(d, fmt.Sprintf("nftables table %s was not there", t))
		}
	}
	for _, l := range now.Links {
		if !slices.Contains(s.Links, l) {
			d = append(d, fmt.Sprintf("network interface %s was not there", l))
		}
	}
	for _, p := range sortedKeys(now.Paths) {
		if now.Paths[p] && !s.Paths[p] {
			d = append(d, fmt.Sprintf("%s was not there", p))
		}
	}
	for _, c := range now.Cgroups {
		if !slices.Contains(s.Cgroups, c) {
			d = append(d, fmt.Sprintf("cgroup %s was not there", c))
		}
	}
	return d
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// restoreSysctls writes back every parameter that changed since s and
// returns what it restored.
func (s *hostState) restoreSysctls() ([]string, error) {
	now, err := readSysctls()
	if err != nil {
		return nil, err
	}
	var restored []string
	var errs []error
	for _, k := range sortedKeys(s.Sysctls) {
		v, ok := now[k]
		if !ok || v == s.Sysctls[k] {
			continue
		}
		if err := os.WriteFile(filepath.Join("/proc/sys", k), []byte(s.Sysctls[k]), 0); err != nil {
			errs = append(errs, fmt.Errorf("restore sysctl %s: %w", k, err))
			continue
		}
		restored = append(restored, fmt.Sprintf("%s=%s (was %s)", strings.ReplaceAll(k, "/", "."), strings.TrimSpace(s.Sysctls[k]), strings.TrimSpace(v)))
	}
	return restored, errors.Join(errs...)
}

// removeNewRules deletes every rule and chain that appeared since s in
// the iptables tables, and the nftables tables that appeared and are
// empty again: the kubelet's and kube-proxy's KUBE-* chains, the
// harness's own guard, and the tables iptables-nft made for them.
func (s *hostState) removeNewRules() error {
	var errs []error
	for _, family := range []string{"iptables", "ip6tables"} {
		now, err := saveRules(family)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, table := range sortedKeys(now) {
			before := s.Rules[family+"/"+table]
			var newChains []string
			for _, line := range now[table] {
				// A table the run created lists its built-in chains as
				// new too; those stay, their rules are deleted one by one.
				if c := strings.Fields(line)[0][1:]; strings.HasPrefix(line, ":") && !slices.Contains(before, line) && !isBuiltinChain(c) {
					newChains = append(newChains, c)
				}
			}
			for _, line := range now[table] {
				if !strings.HasPrefix(line, "-A ") || slices.Contains(before, line) {
					continue
				}
				chain := strings.Fields(line)[1]
				if slices.Contains(newChains, chain) {
					continue // goes with the chain
				}
				// A rule in a chain that was there before: delete the
				// same spec. The line is iptables-save's own quoting.
				args, err := splitRule(strings.Replace(line, "-A ", "-D ", 1))
				if err != nil {
					errs = append(errs, err)
					continue
				}
				if out, err := exec.Command(family, append([]string{"-w", "-t", table}, args...)...).CombinedOutput(); err != nil {
					errs = append(errs, fmt.Errorf("%s -t %s %s: %w: %s", family, table, strings.Join(args, " "), err, out))
				}
			}
			for _, c := range newChains {
				exec.Command(family, "-w", "-t", table, "-F", c).Run()
			}
			for _, c := range newChains {
				if out, err := exec.Command(family, "-w", "-t", table, "-X", c).CombinedOutput(); err != nil {
					errs = append(errs, fmt.Errorf("%s -t %s -X %s: %w: %s", family, table, c, err, out))
				}
			}
		}
	}
	tables, err := nftTables()
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	for _, t := range tables {
		if slices.Contains(s.Tables, t) {
			continue
		}
		out, err := exec.Command("nft", "list", "table", t).Output()
		if err != nil {
			errs = append(errs, fmt.Errorf("nft list table %s: %w", t, err))
			continue
		}
		if nftHasRules(string(out)) {
			errs = append(errs, fmt.Errorf("nftables table %s appeared during the run and still has rules:\n%s", t, out))
			continue
		}
		if out, err := exec.Command("nft", append([]string{"delete", "table"}, strings.Fields(t)...)...).CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("nft delete table %s: %w: %s", t, err, out))
		}
	}
	return errors.Join(errs...)
}

func isBuiltinChain(c string) bool {
	switch c {
	case "INPUT", "OUTPUT", "FORWARD", "PREROUTING", "POSTROUTING":
		return true
	}
	return false
}

// nftHasRules reports whether nft's listing of one table holds anything
// but chain declarations.
func nftHasRules(listing string) bool {
	for _, line := range strings.Split(listing, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "", line == "}", strings.HasPrefix(line, "table "), strings.HasPrefix(line, "chain "), strings.HasPrefix(line, "type "), strings.HasPrefix(line, "policy "):
		default:
			return true
		}
	}
	return false
}

// splitRule splits an iptables-save line into arguments, honouring its
// double quotes (comments with spaces).
func splitRule(line string) ([]string, error) {
	var args []string
	var cur strings.Builder
	inQuote, have := false, false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == '\\' && inQuote && i+1 < len(line):
			i++
			cur.WriteByte(line[i])
		case c == '"':
			inQuote, have = !inQuote, true
		case c == ' ' && !inQuote:
			if have {
				args = append(args, cur.String())
				cur.Reset()
				have = false
			}
		default:
			cur.WriteByte(c)
			have = true
		}
	}
	if inQuote {
		return nil, fmt.Errorf("unbalanced quote in %q", line)
	}
	if have {
		args = append(args, cur.String())
	}
	return args, nil
}

// removeCgroups removes the kubepods cgroups the run created, deepest
// first, killing any process still in them (a container whose shim was
// killed is no child of anything the harness started).
func (s *hostState) removeCgroups() error {
	now, _ := filepath.Glob("/sys/fs/cgroup/*/kubepods")
	var errs []error
	for _, top := range now {
		if slices.Contains(s.Cgroups, top) {
			continue
		}
		var dirs []string
		filepath.WalkDir(top, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		// Deepest first.
		slices.SortFunc(dirs, func(a, b string) int { return cmp.Compare(strings.Count(b, "/"), strings.Count(a, "/")) })
		for _, d := range dirs {
			killCgroup(d)
			if err := syscall.Rmdir(d); err != nil && !errors.Is(err, syscall.ENOENT) {
				errs = append(errs, fmt.Errorf("rmdir %s: %w", d, err))
			}
		}
	}
	return errors.Join(errs...)
}

func killCgroup(dir string) {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		return
	}
	for _, f := range strings.Fields(string(b)) {
		var pid int
		if _, err := fmt.Sscan(f, &pid); err == nil && pid > 1 {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// removeNewPaths removes the global paths the run created.
func (s *hostState) removeNewPaths() error {
	var errs []error
	for _, p := range globalPaths {
		if s.Paths[p] {
			continue
		}
		if err := os.RemoveAll(p); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// The state file lets a run that died before its teardown (a test
// timeout panics past deferred calls) be cleaned up by the next one: it
// holds the host as it was before that run.
func statePath() string { return filepath.Join(os.TempDir(), "jobwq-e2e-state.json") }

func (s *hostState) save() error {
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	tmp := statePath() + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, statePath())
}

func loadState() (*hostState, error) {
	b, err := os.ReadFile(statePath())
	if err != nil {
		return nil, err
	}
	var s hostState
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", statePath(), err)
	}
	return &s, nil
}
