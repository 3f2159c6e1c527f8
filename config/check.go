package config

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/edgeflow/edgeflow/component"
	"github.com/rs/zerolog"
)

// Check reports every problem of the pipeline file at path in one go:
// syntax, keys and types, the graph, what the constructors of the
// components that parsed cleanly find (expressions, codecs, templates,
// model files), and expressions that do not fit the fields their messages
// have (CheckFields). Load stops before the constructors when the file has any
// problem, so that a dangling input would hide a bad expression until the
// next run of `validate`; Check does not. It starts nothing and writes
// nothing: constructors do no I/O, and only replay sources read (a sample
// of their files). nil means the file is good.
func Check(path string, log zerolog.Logger) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return &component.Error{File: path, Msg: fmt.Sprintf("cannot read the pipeline file: %v", err)}
	}
	p := &parser{file: path, names: map[string]*Node{}}
	f := p.parse(data)
	p.dropEcho()
	errs := p.errs
	if f != nil {
		errs = append(errs, f.constructAll(log)...)
		_, typeErrs := f.CheckFields(log)
		errs = append(errs, typeErrs...)
	}
	if len(errs) == 0 && f != nil {
		// Everything parsed and constructed: assemble it too.
		b, err := f.Build(context.Background(), BuildOptions{Logger: log, DryRun: true})
		if err != nil {
			return err
		}
		return b.Close(context.Background())
	}
	sortErrors(errs)
	return errors.Join(errs...)
}

// constructAll constructs each cleanly parsed connection and node, closes
// it again, and returns the constructors' errors. A node whose connection
// is broken is skipped: its error would only repeat the connection's.
func (f *File) constructAll(log zerolog.Logger) []error {
	ctx := context.Background()
	dir := filepath.Dir(f.Path)
	conns := map[string]component.Connection{}
	broken := map[string]bool{}
	var errs []error
	for _, c := range f.Connections {
		if !c.clean || c.Spec == nil || c.Config == nil {
			broken[c.Name] = true
			continue
		}
		res := &component.Resources{Logger: log, Dir: dir, Node: c.Name, Pipeline: f.Name, Connections: conns}
		conn, err := construct(func() (any, error) { return c.Spec.New(c.Config, res) })
		if err == nil && conn == nil {
			err = errors.New("the constructor returned no connection")
		}
		if err != nil {
			broken[c.Name] = true
			errs = append(errs, f.positioned(err, c.Line, c.Column, "connections."+c.Name))
			continue
		}
		conns[c.Name] = conn.(component.Connection)
	}
	defer func() {
		for _, c := range conns {
			_ = c.Close(ctx)
		}
	}()
	nodes := f.Nodes
	if f.DeadLetter != nil {
		nodes = append(nodes[:len(nodes):len(nodes)], f.DeadLetter)
	}
	for _, n := range nodes {
		if !n.clean || n.Spec == nil || n.Config == nil {
			continue
		}
		if hasField(n.Spec.Fields, "connection") && broken[n.Config.String("connection")] {
			continue
		}
		comp, err := f.component(n, log, dir, conns)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		closeComponents(ctx, map[string]any{n.Name: comp})
	}
	return errs
}
