package component

import (
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/edgeflow/edgeflow/pipeline"
)

var registry = struct {
	sync.RWMutex
	specs map[pipeline.Kind]map[string]*Spec
}{specs: map[pipeline.Kind]map[string]*Spec{}}

// Register adds a component type. Components call it from init; a duplicate
// or malformed spec is a programming error and panics.
func Register(s Spec) {
	if s.Name == "" || s.New == nil {
		panic(fmt.Sprintf("component: spec %q needs a name and a constructor", s.Name))
	}
	checkFields(s.Name, s.Fields)
	registry.Lock()
	defer registry.Unlock()
	byName := registry.specs[s.Kind]
	if byName == nil {
		byName = map[string]*Spec{}
		registry.specs[s.Kind] = byName
	}
	if _, dup := byName[s.Name]; dup {
		panic(fmt.Sprintf("component: %s %q registered twice", s.Kind, s.Name))
	}
	byName[s.Name] = &s
}

func checkFields(owner string, fields []Field) {
	seen := map[string]bool{}
	for _, f := range fields {
		if f.Name == "" || seen[f.Name] {
			panic(fmt.Sprintf("component %s: empty or duplicate field %q", owner, f.Name))
		}
		seen[f.Name] = true
		if (f.Type == Object || f.Type == ObjectList) != (len(f.Fields) > 0) {
			panic(fmt.Sprintf("component %s: field %q: only objects have fields", owner, f.Name))
		}
		if f.Default != nil {
			if _, err := coerce(f, f.Default); err != nil {
				panic(fmt.Sprintf("component %s: field %q: bad default: %v", owner, f.Name, err))
			}
		}
		checkFields(owner+"."+f.Name, f.Fields)
	}
}

// Lookup returns the spec of a component type.
func Lookup(kind pipeline.Kind, name string) (*Spec, bool) {
	registry.RLock()
	defer registry.RUnlock()
	s, ok := registry.specs[kind][name]
	return s, ok
}

// All returns the registered specs of a kind, sorted by name.
func All(kind pipeline.Kind) []*Spec {
	registry.RLock()
	defer registry.RUnlock()
	var out []*Spec
	for _, s := range registry.specs[kind] {
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b *Spec) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Names returns the registered type names of a kind, sorted.
func Names(kind pipeline.Kind) []string {
	var names []string
	for _, s := range All(kind) {
		names = append(names, s.Name)
	}
	return names
}
