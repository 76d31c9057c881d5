// Package cue embeds jobwq's CUE module: the Kubernetes definitions
// generated with `cue get go` from the pinned k8s.io/api (cue.mod/gen) and
// the templates that turn a WorkQueue into the files of a kustomize tree
// (templates/). It is the single source of truth for what jobwq renders.
package cue

import "embed"

// FS holds the module, rooted at its cue.mod's parent.
//
//go:embed cue.mod templates
var FS embed.FS
