package workqueue

import (
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/cuecontext"
	"github.com/google/go-cmp/cmp"
)

// TestGoTypesMatchSchema keeps the Go WorkQueue, which a validated spec is
// decoded into, field for field the shape of schemas/workqueue.cue, the
// single source of truth: a field added to one and not the other fails
// here, not in a user's build.
func TestGoTypesMatchSchema(t *testing.T) {
	schema, err := Schema(cuecontext.New())
	if err != nil {
		t.Fatal(err)
	}
	compareShape(t, "", schema, reflect.TypeFor[WorkQueue]())
}

func compareShape(t *testing.T, path string, v cue.Value, typ reflect.Type) {
	t.Helper()
	for typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	kind := v.IncompleteKind()
	switch {
	case typ.Kind() == reflect.Struct && typ != reflect.TypeFor[Duration]():
		if kind&cue.StructKind == 0 {
			t.Errorf("%s: Go has a struct, the schema %v", path, kind)
			return
		}
		goFields := map[string]reflect.Type{}
		for f := range typ.Fields() {
			if f.Anonymous && f.Tag.Get("json") == "" {
				// An embedded struct's fields are its parent's, as in
				// encoding/json.
				for ef := range f.Type.Fields() {
					name, _, _ := strings.Cut(ef.Tag.Get("json"), ",")
					goFields[name] = ef.Type
				}
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "" || name == "-" || !f.IsExported() {
				continue
			}
			goFields[name] = f.Type
		}
		cueFields := map[string]cue.Value{}
		it, err := v.Fields(cue.Optional(true))
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		for it.Next() {
			cueFields[it.Selector().Unquoted()] = it.Value()
		}
		if diff := cmp.Diff(slices.Sorted(maps.Keys(cueFields)), slices.Sorted(maps.Keys(goFields))); diff != "" {
			t.Errorf("%s: fields differ (-schema +Go):\n%s", orRoot(path), diff)
		}
		for name, ft := range goFields {
			if cv, ok := cueFields[name]; ok {
				compareShape(t, join(path, name), cv, ft)
			}
		}
	case typ.Kind() == reflect.Slice:
		if kind&cue.ListKind == 0 {
			t.Errorf("%s: Go has a list, the schema %v", path, kind)
			return
		}
		compareShape(t, path+"[]", v.LookupPath(cue.MakePath(cue.AnyIndex)), typ.Elem())
	case typ.Kind() == reflect.Map:
		if kind&cue.StructKind == 0 {
			t.Errorf("%s: Go has a map, the schema %v", path, kind)
		}
	case typ.Kind() == reflect.String || typ == reflect.TypeFor[Duration]():
		if kind&cue.StringKind == 0 {
			t.Errorf("%s: Go has a string, the schema %v", path, kind)
		}
	case typ.Kind() == reflect.Int || typ.Kind() == reflect.Int32 || typ.Kind() == reflect.Int64:
		if kind&cue.IntKind == 0 {
			t.Errorf("%s: Go has an int, the schema %v", path, kind)
		}
	case typ.Kind() == reflect.Bool:
		if kind&cue.BoolKind == 0 {
			t.Errorf("%s: Go has a bool, the schema %v", path, kind)
		}
	default:
		t.Errorf("%s: Go type %v has no counterpart in this test", path, typ)
	}
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func orRoot(path string) string {
	if path == "" {
		return "(the document)"
	}
	return path
}
