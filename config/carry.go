package config

import (
	"reflect"
	"slices"

	"github.com/edgeflow/edgeflow/pipeline"
)

// Carry names what a new build takes over from a running one (a hot
// reload): connections stay open with their broker sessions and
// unacknowledged messages, and stage and sink components keep their state
// (a loaded model, a window's learned statistics). Build it with
// (*File).CarryFrom.
type Carry struct {
	From *Built
	// Connections and Components are names, in From, of what to reuse.
	Connections []string
	Components  []string
}

// CarryFrom compares f with old, the file of the running build from, and
// returns what f can reuse: connections whose type and settings are
// unchanged, and stages and sinks (the dead-letter sink included) whose type,
// settings, inputs and engine options are unchanged and whose connection, if
// any, is reused. Sources are always built anew, so that they subscribe
// again through the kept connections.
func (f *File) CarryFrom(old *File, from *Built) *Carry {
	c := &Carry{From: from}
	kept := map[string]bool{}
	for _, nc := range f.Connections {
		i := slices.IndexFunc(old.Connections, func(oc *Connection) bool { return oc.Name == nc.Name })
		if i < 0 || from.Connections[nc.Name] == nil {
			continue
		}
		if oc := old.Connections[i]; oc.Type == nc.Type && oc.Config.Equal(nc.Config) {
			kept[nc.Name] = true
			c.Connections = append(c.Connections, nc.Name)
		}
	}
	oldNodes := map[string]*Node{}
	for _, n := range old.allNodes() {
		oldNodes[n.Name] = n
	}
	for _, n := range f.allNodes() {
		o := oldNodes[n.Name]
		if o == nil || n.Kind == pipeline.KindSource || from.Components[n.Name] == nil {
			continue
		}
		same := o.Type == n.Type && o.Kind == n.Kind && slices.Equal(o.Inputs, n.Inputs) &&
			reflect.DeepEqual(o.Options, n.Options) && o.Config.Equal(n.Config) &&
			(o == old.DeadLetter) == (n == f.DeadLetter)
		if same && n.Config.Has("connection") && !kept[n.Config.String("connection")] {
			same = false
		}
		if same {
			c.Components = append(c.Components, n.Name)
		}
	}
	return c
}

func (f *File) allNodes() []*Node {
	all := f.Nodes
	if f.DeadLetter != nil {
		all = append(all[:len(all):len(all)], f.DeadLetter)
	}
	return all
}

// release hands the named connections over to another build: b no longer
// closes them.
func (b *Built) release(names []string) {
	b.conns = slices.DeleteFunc(b.conns, func(nc namedConn) bool { return slices.Contains(names, nc.name) })
}
