package config

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"

	"github.com/edgeflow/edgeflow/component"
	"github.com/edgeflow/edgeflow/pipeline"
	"github.com/rs/zerolog"
)

// BuildOptions configure Build.
type BuildOptions struct {
	// Logger is the parent of the pipeline's and components' loggers.
	Logger zerolog.Logger
	// DryRun constructs everything but starts no connection, for
	// `edgeflow validate`: constructors do no I/O, so nothing is dialled or
	// written.
	DryRun bool
	// Carry, for a hot reload, names the connections and components of a
	// running build to reuse rather than construct. On success the reused
	// connections belong to the new build (the old one no longer closes
	// them); reused connections are not started again.
	Carry *Carry
}

// Built is a pipeline ready to run, with the connections it uses.
type Built struct {
	Pipeline *pipeline.Pipeline
	// Connections are the opened shared connections by name.
	Connections map[string]component.Connection
	// Components are the constructed components by node name (the
	// dead-letter sink under DeadLetterName).
	Components map[string]any

	conns []namedConn // in file order, to close in reverse
}

type namedConn struct {
	name string
	conn component.Connection
}

// Close closes the connections, last opened first. Call it after the
// pipeline has stopped (Run returned): the components' own Close ran then.
func (b *Built) Close(ctx context.Context) error {
	var errs []error
	for i := len(b.conns) - 1; i >= 0; i-- {
		c := b.conns[i]
		if err := c.conn.Close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("closing connection %q: %w", c.name, err))
		}
	}
	b.conns = nil
	return errors.Join(errs...)
}

// Build constructs the file's connections and components and wires them
// into a pipeline. Every constructor error is reported (as a
// *component.Error), and on any failure everything constructed is closed
// again. Unless opts.DryRun, connections that implement component.Starter
// are started, in file order.
func (f *File) Build(ctx context.Context, opts BuildOptions) (*Built, error) {
	b := &Built{Connections: map[string]component.Connection{}, Components: map[string]any{}}
	dir := filepath.Dir(f.Path)
	if f.Path == "" {
		dir = "."
	}
	var errs []error
	carried := map[string]bool{} // connection and node names taken from opts.Carry
	if opts.Carry != nil {
		for _, name := range opts.Carry.Connections {
			carried[name] = true
		}
		for _, name := range opts.Carry.Components {
			carried[name] = true
		}
	}
	for _, c := range f.Connections {
		if carried[c.Name] {
			conn := opts.Carry.From.Connections[c.Name]
			b.Connections[c.Name] = conn
			b.conns = append(b.conns, namedConn{c.Name, conn})
			continue
		}
		res := &component.Resources{
			Logger: opts.Logger.With().Str("connection", c.Name).Logger(),
			Dir:    dir, Node: c.Name, Pipeline: f.Name, Connections: b.Connections,
		}
		if c.Spec == nil || c.Config == nil {
			errs = append(errs, &component.Error{File: f.Path, Line: c.Line, Column: c.Column, Key: "connections." + c.Name,
				Msg: "connection has no parsed spec (build a File with Parse or Load)"})
			continue
		}
		conn, err := construct(func() (any, error) { return c.Spec.New(c.Config, res) })
		if err == nil && conn == nil {
			err = errors.New("the constructor returned no connection")
		}
		if err != nil {
			errs = append(errs, f.positioned(err, c.Line, c.Column, "connections."+c.Name))
			continue
		}
		b.Connections[c.Name] = conn.(component.Connection)
		b.conns = append(b.conns, namedConn{c.Name, conn.(component.Connection)})
	}
	nodes := f.Nodes
	if f.DeadLetter != nil {
		nodes = append(nodes[:len(nodes):len(nodes)], f.DeadLetter)
	}
	if len(errs) == 0 {
		for _, n := range nodes {
			if carried[n.Name] {
				b.Components[n.Name] = opts.Carry.From.Components[n.Name]
				continue
			}
			comp, err := f.component(n, opts.Logger, dir, b.Connections)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			b.Components[n.Name] = comp
		}
	}
	if len(errs) == 0 {
		b.Pipeline, errs = f.assemble(b.Components, opts.Logger)
	}
	if len(errs) == 0 && !opts.DryRun {
		for _, c := range f.Connections {
			s, ok := b.Connections[c.Name].(component.Starter)
			if !ok || carried[c.Name] {
				continue
			}
			if err := s.Start(ctx); err != nil {
				errs = append(errs, &component.Error{File: f.Path, Line: c.Line, Column: c.Column,
					Key: "connections." + c.Name, Msg: fmt.Sprintf("cannot start: %v", err)})
				break
			}
		}
	}
	if len(errs) > 0 {
		// What was carried stays with the running build.
		maps.DeleteFunc(b.Components, func(name string, _ any) bool { return carried[name] })
		b.conns = slices.DeleteFunc(b.conns, func(nc namedConn) bool { return carried[nc.name] })
		closeComponents(ctx, b.Components)
		if err := b.Close(ctx); err != nil {
			errs = append(errs, err)
		}
		return nil, errors.Join(errs...)
	}
	if opts.Carry != nil {
		opts.Carry.From.release(opts.Carry.Connections)
	}
	return b, nil
}

// component constructs one node's component and checks that it is what its
// kind needs.
func (f *File) component(n *Node, log zerolog.Logger, dir string, conns map[string]component.Connection) (any, error) {
	res := &component.Resources{
		Logger: log.With().Str("node", n.Name).Logger(),
		Dir:    dir, Node: n.Name, Pipeline: f.Name, Connections: conns,
	}
	if n.Spec == nil || n.Config == nil {
		return nil, &component.Error{File: f.Path, Line: n.Line, Column: n.Column, Key: n.path,
			Msg: "node has no parsed spec (build a File with Parse or Load)"}
	}
	comp, err := construct(func() (any, error) { return n.Spec.New(n.Config, res) })
	if err == nil {
		switch n.Kind {
		case pipeline.KindSource:
			_, ok := comp.(pipeline.Source)
			err = wrongType(ok, comp, "pipeline.Source")
		case pipeline.KindStage:
			_, proc := comp.(pipeline.Processor)
			_, batch := comp.(pipeline.BatchProcessor)
			err = wrongType(proc || batch, comp, "pipeline.Processor or pipeline.BatchProcessor")
		default:
			_, ok := comp.(pipeline.Sink)
			err = wrongType(ok, comp, "pipeline.Sink")
		}
		if err != nil {
			closeComponents(context.Background(), map[string]any{n.Name: comp})
		}
	}
	if err != nil {
		return nil, f.positioned(err, n.Line, n.Column, n.path)
	}
	return comp, nil
}

// assemble adds the constructed components to a new pipeline.
func (f *File) assemble(comps map[string]any, log zerolog.Logger) (*pipeline.Pipeline, []error) {
	p := pipeline.New(pipeline.Options{Name: f.Name, Buffer: f.Buffer, DrainTimeout: f.DrainTimeout, Logger: &log})
	var errs []error
	for _, n := range f.Nodes {
		var err error
		switch n.Kind {
		case pipeline.KindSource:
			err = p.AddSource(n.Name, comps[n.Name].(pipeline.Source), n.Options)
		case pipeline.KindStage:
			err = p.AddStage(n.Name, comps[n.Name], n.Inputs, n.Options)
		default:
			err = p.AddSink(n.Name, comps[n.Name].(pipeline.Sink), n.Inputs, n.Options)
		}
		if err != nil {
			errs = append(errs, f.positioned(err, n.Line, n.Column, n.path))
		}
	}
	if dl := f.DeadLetter; dl != nil {
		if err := p.SetDeadLetter(dl.Name, comps[dl.Name].(pipeline.Sink), dl.Options); err != nil {
			errs = append(errs, f.positioned(err, dl.Line, dl.Column, dl.path))
		}
	}
	// Parse checked the graph with the same rules; this catches a File
	// changed or assembled by hand since.
	for _, err := range unjoin(p.Validate()) {
		errs = append(errs, f.graphError(err))
	}
	return p, errs
}

// graphError points a *pipeline.GraphError at its node.
func (f *File) graphError(err error) error {
	var ge *pipeline.GraphError
	if !errors.As(err, &ge) {
		return err
	}
	for _, n := range append(f.Nodes[:len(f.Nodes):len(f.Nodes)], f.DeadLetter) {
		if n == nil || n.Name != ge.Node {
			continue
		}
		if ge.Input != "" {
			for i, in := range n.Inputs {
				if in == ge.Input {
					at := n.inputAt(i)
					return &component.Error{File: f.Path, Line: at.Line, Column: at.Column, Key: n.path + ".input", Msg: ge.Msg}
				}
			}
		}
		return &component.Error{File: f.Path, Line: n.Line, Column: n.Column, Key: n.path, Msg: ge.Msg}
	}
	return &component.Error{File: f.Path, Msg: ge.Error()}
}

// positioned returns err if it already carries a position (a constructor's
// conf.Errorf), else a *component.Error at the node.
func (f *File) positioned(err error, line, col int, key string) error {
	var ce *component.Error
	if errors.As(err, &ce) {
		return err
	}
	return &component.Error{File: f.Path, Line: line, Column: col, Key: key, Msg: err.Error()}
}

// construct calls a constructor, turning a panic into an error: a
// component's bug on odd config must not take the process down.
func construct(fn func() (any, error)) (v any, err error) {
	defer func() {
		if r := recover(); r != nil {
			v, err = nil, fmt.Errorf("constructor panicked: %v", r)
		}
	}()
	return fn()
}

func wrongType(ok bool, comp any, want string) error {
	if ok {
		return nil
	}
	return fmt.Errorf("the constructor returned %T, which is not a %s", comp, want)
}

// closeComponents closes components that were built but will never run
// (the engine closes those that ran).
func closeComponents(ctx context.Context, comps map[string]any) {
	for _, c := range comps {
		if cl, ok := c.(pipeline.Closer); ok {
			_ = cl.Close(ctx) // best effort: the build already failed
		}
	}
}

func unjoin(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}
