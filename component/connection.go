package component

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/edgeflow/edgeflow/internal/didyoumean"
)

// Connection is a shared client (an MQTT broker session, a NATS
// connection) that any number of sources and sinks refer to by name from the
// pipeline's `connections:` section. It is opened before the components
// that use it are built and closed after the pipeline has stopped.
type Connection interface {
	Close(ctx context.Context) error
}

// ConnectionSpec describes one connection type; like Spec it drives parsing,
// validation and docs.
type ConnectionSpec struct {
	Name        string // the value of `type:` under connections
	Summary     string
	Description string
	Fields      []Field
	Example     string
	New         func(conf *Config, res *Resources) (Connection, error)
}

var connections = map[string]*ConnectionSpec{}

// RegisterConnection adds a connection type; call it from init.
func RegisterConnection(s ConnectionSpec) {
	if s.Name == "" || s.New == nil {
		panic(fmt.Sprintf("component: connection spec %q needs a name and a constructor", s.Name))
	}
	checkFields(s.Name, s.Fields)
	registry.Lock()
	defer registry.Unlock()
	if _, dup := connections[s.Name]; dup {
		panic(fmt.Sprintf("component: connection %q registered twice", s.Name))
	}
	connections[s.Name] = &s
}

// LookupConnection returns the spec of a connection type.
func LookupConnection(name string) (*ConnectionSpec, bool) {
	registry.RLock()
	defer registry.RUnlock()
	s, ok := connections[name]
	return s, ok
}

// AllConnections returns the registered connection specs, sorted by name.
func AllConnections() []*ConnectionSpec {
	registry.RLock()
	defer registry.RUnlock()
	var out []*ConnectionSpec
	for _, s := range connections {
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b *ConnectionSpec) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Connection returns the pipeline's connection called name. The caller
// type-asserts it to the client it expects (and should say so in its error).
func (r *Resources) Connection(name string) (Connection, error) {
	c, ok := r.Connections[name]
	if !ok {
		var names []string
		for n := range r.Connections {
			names = append(names, n)
		}
		slices.Sort(names)
		if len(names) == 0 {
			return nil, fmt.Errorf("no connection named %q: the pipeline has no `connections:` section", name)
		}
		return nil, fmt.Errorf("no connection named %q%s (have %s)", name, didyoumean.Suggest(name, names), strings.Join(names, ", "))
	}
	return c, nil
}

// Starter is implemented by connections that do I/O to come up: dial a
// broker, or start an embedded one. Constructors (Spec.New,
// ConnectionSpec.New) must do no network I/O and write nothing, so that
// `edgeflow validate` can build a pipeline safely; Start is called only when
// the pipeline is about to run.
type Starter interface {
	Start(ctx context.Context) error
}

// ConnectionAs resolves the connection named by a component's field (usually
// `connection`) and checks that it is of the type the component needs, with
// errors that point at the field: `ConnectionAs[*mqtt.Conn](conf, res,
// "connection", "mqtt")`.
func ConnectionAs[T Connection](conf *Config, res *Resources, field, typeName string) (T, error) {
	var zero T
	name := conf.String(field)
	c, err := res.Connection(name)
	if err != nil {
		return zero, conf.Errorf(field, "%v", err)
	}
	t, ok := c.(T)
	if !ok {
		return zero, conf.Errorf(field, "connection %q is not a %s connection", name, typeName)
	}
	return t, nil
}
