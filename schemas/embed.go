// Package schemas holds jobwq's CUE schemas, embedded into the binary: the
// WorkQueue schema (workqueue.cue), the JSON Schema exported from it for
// editors (workqueue.schema.json), and the policy pack (policy/). It is the
// single source of truth: nothing else in jobwq restates these rules.
package schemas

import "embed"

// FS holds the schema files, rooted at this directory.
//
//go:embed workqueue.cue policy/*.cue
var FS embed.FS
