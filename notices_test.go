package jobwq_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// The release archives and the image hold binaries built from jobwq's
// code (Apache-2.0, LICENSE) and from the modules `go list -deps` lists
// for them, whose licenses want their notices passed on: NOTICE holds
// jobwq's and the NOTICE files of the Apache-2.0 modules; THIRD_PARTY_NOTICES
// names every module with its license, and holds the license text of those
// not under the Apache License (whose text is LICENSE), as each module
// ships it. TestThirdPartyNotices keeps both in step with go.mod; -update
// rewrites them (make generate does).

// licenseKinds tells a license by words of its text. A license not among
// them fails the test: a person decides whether jobwq may ship it and
// what it asks for, then adds it here.
var licenseKinds = []struct {
	id   string
	text *regexp.Regexp
}{
	{"Apache-2.0", regexp.MustCompile(`(?s)Apache License.*Version 2\.0`)},
	{"MIT", regexp.MustCompile(`Permission is hereby granted, free of charge`)},
	{"BSD-3-Clause", regexp.MustCompile(`(?s)Redistribution and use in source and binary forms.*Neither the name`)},
	{"BSD-2-Clause", regexp.MustCompile(`Redistribution and use in source and binary forms`)},
	{"Unlicense", regexp.MustCompile(`This is free and unencumbered software released into the public domain`)},
}

// licenseFile names a license or notice file (not license.go).
var licenseFile = regexp.MustCompile(`(?i)^(licen[cs]e|copying|notice|patents)([-._][a-z]*)?(\.(txt|md))?$`)

type thirdParty struct {
	Path, Version, Dir string
	licenses           []string // ids, sorted
	files              []string // license files (not NOTICE) not only Apache-2.0, relative to Dir
	notices            []string // NOTICE files
	dirs               []string // the directories of its linked packages
}

// kindsOf are the licenses a file's text is, or holds (a file may gather
// the licenses of code copied in, as sigs.k8s.io/yaml's does).
func kindsOf(text []byte) []string {
	var ids []string
	for _, k := range licenseKinds {
		if k.text.Match(text) {
			ids = append(ids, k.id)
		}
	}
	if slices.Contains(ids, "BSD-3-Clause") {
		ids = slices.DeleteFunc(ids, func(id string) bool { return id == "BSD-2-Clause" })
	}
	return ids
}

// thirdParties lists the modules linked into the two binaries, with the
// Go standard library first, and the license files of each: the module's
// own and those beside the packages linked (code copied in from
// elsewhere, such as klauspost/compress's snappy reference).
func thirdParties(t *testing.T) []thirdParty {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", "-json=Dir,Standard,Module", "./cmd/jobwq", "./cmd/jobwq-runner").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	byPath := map[string]*thirdParty{}
	list := []*thirdParty{{Path: "Go standard library", Version: runtime.Version(), Dir: runtime.GOROOT()}}
	dec := json.NewDecoder(bytes.NewReader(out))
	for dec.More() {
		var p struct {
			Dir      string
			Standard bool
			Module   *struct {
				Path, Version, Dir string
				Main               bool
			}
		}
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		if p.Standard || p.Module == nil || p.Module.Main {
			continue
		}
		m := byPath[p.Module.Path]
		if m == nil {
			m = &thirdParty{Path: p.Module.Path, Version: p.Module.Version, Dir: p.Module.Dir}
			byPath[m.Path] = m
			list = append(list, m)
		}
		m.dirs = append(m.dirs, p.Dir)
	}
	slices.SortStableFunc(list[1:], func(a, b *thirdParty) int { return strings.Compare(a.Path, b.Path) })
	var result []thirdParty
	for _, m := range list {
		// The module's root, and each linked package's directory up to it.
		dirs := map[string]bool{m.Dir: true}
		for _, d := range m.dirs {
			for ; strings.HasPrefix(d, m.Dir+string(filepath.Separator)); d = filepath.Dir(d) {
				dirs[d] = true
			}
		}
		for _, dir := range slices.Sorted(maps.Keys(dirs)) {
			entries, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			rel, _ := filepath.Rel(m.Dir, dir)
			for _, e := range entries {
				name := e.Name()
				file := filepath.ToSlash(filepath.Join(rel, name))
				switch upper := strings.ToUpper(name); {
				case e.IsDir() || !licenseFile.MatchString(name):
				case strings.HasPrefix(upper, "NOTICE"):
					m.notices = append(m.notices, file)
				case strings.HasPrefix(upper, "PATENTS"):
					m.files = append(m.files, file) // Google's patent grant, beside BSD-3-Clause
				case strings.Contains(strings.ToLower(name), "docs"):
					// go-digest's LICENSE.docs: its documentation, which
					// is not in the binaries.
				default:
					b, err := os.ReadFile(filepath.Join(dir, name))
					if err != nil {
						t.Fatal(err)
					}
					ids := kindsOf(b)
					if len(ids) == 0 {
						t.Errorf("%s %s: the license in %s is not one jobwq knows it may ship: read it, then add it to licenseKinds", m.Path, m.Version, file)
						continue
					}
					m.licenses = append(m.licenses, ids...)
					if !slices.Equal(ids, []string{"Apache-2.0"}) {
						m.files = append(m.files, file) // the Apache License's text is LICENSE
					}
				}
			}
		}
		slices.Sort(m.licenses)
		m.licenses = slices.Compact(m.licenses)
		if len(m.licenses) == 0 {
			t.Errorf("%s %s has no license file: jobwq may not ship it", m.Path, m.Version)
		}
		result = append(result, *m)
	}
	return result
}

const rule = "================================================================================\n"

func thirdPartyNotices(t *testing.T, list []thirdParty) []byte {
	var b bytes.Buffer
	b.WriteString(`Third-party software in jobwq and jobwq-runner

The jobwq binaries (the release archives' jobwq and jobwq-runner, and the
runner image) are built from jobwq's own code, under the Apache License 2.0
(LICENSE), and from the software below: the Go standard library and the Go
modules that ` + "`go list -deps ./cmd/jobwq ./cmd/jobwq-runner`" + ` lists. The license
of each was read from its module's source, beside the packages linked. The
text of the Apache License 2.0 is LICENSE, and the NOTICE files of software
under it are in NOTICE; the texts of the other licenses follow, as the
modules ship them.

`)
	for _, m := range list {
		fmt.Fprintf(&b, "%s %s: %s\n", m.Path, m.Version, strings.Join(m.licenses, ", "))
	}
	for _, m := range list {
		for _, f := range m.files {
			text, err := os.ReadFile(filepath.Join(m.Dir, f))
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&b, "\n%s%s %s, %s\n%s\n", rule, m.Path, m.Version, f, rule)
			b.Write(bytes.TrimRight(text, "\n"))
			b.WriteString("\n")
		}
	}
	return b.Bytes()
}

func notice(t *testing.T, list []thirdParty) []byte {
	var b bytes.Buffer
	b.WriteString(`jobwq
Copyright 2026 The jobwq Authors

This product is licensed under the Apache License, Version 2.0 (LICENSE).

It includes software developed by others (THIRD_PARTY_NOTICES names it
all, with its licenses). The NOTICE files of the parts under the Apache
License 2.0 follow, as their modules ship them.
`)
	for _, m := range list {
		for _, f := range m.notices {
			text, err := os.ReadFile(filepath.Join(m.Dir, f))
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&b, "\n%s%s %s, %s\n%s\n", rule, m.Path, m.Version, f, rule)
			b.Write(bytes.TrimRight(text, "\n"))
			b.WriteString("\n")
		}
	}
	return b.Bytes()
}

// TestThirdPartyNotices: NOTICE and THIRD_PARTY_NOTICES say what the
// modules the binaries link today ask for, and LICENSE is the Apache
// License 2.0 the dependencies' Apache-2.0 text is.
func TestThirdPartyNotices(t *testing.T) {
	list := thirdParties(t)
	for file, want := range map[string][]byte{
		"THIRD_PARTY_NOTICES": thirdPartyNotices(t, list),
		"NOTICE":              notice(t, list),
	} {
		if *update {
			if err := os.WriteFile(file, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is not what the modules in go.mod ask for: run go test . -run TestThirdPartyNotices -update (make generate does)", file)
		}
	}
	license, err := os.ReadFile("LICENSE")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range list {
		if m.Path != "cuelang.org/go" {
			continue
		}
		theirs, err := os.ReadFile(filepath.Join(m.Dir, "LICENSE"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(license, theirs) {
			t.Error("LICENSE is not the Apache License 2.0 as CUE ships it")
		}
	}
}
