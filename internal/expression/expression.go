// Package expression is edgeflow's expression language, used by the map and
// filter stages (and by any component that computes a value from a message).
// It is github.com/expr-lang/expr with a message as its environment.
//
// An expression sees every field of the message at the top level (`value`,
// `sensor`, …) and these names for the message itself, which take precedence
// over fields of the same name:
//
//	key          string             the message key (sensor id)
//	topic        string             the topic or subject it arrived on
//	meta         map[string]string  metadata (MQTT user properties, NATS headers)
//	source_time  time.Time          when the reading was taken
//	ingest_time  time.Time          when edgeflow received it
//	fields       map[string]any     all fields, for names that are not identifiers
//
// A field that the message lacks evaluates to nil, so `value > 3` on a message
// without `value` is a runtime error (the message is dead-lettered) rather
// than silently false; write `value ?? 0` to supply a default.
package expression

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgeflow/edgeflow/internal/didyoumean"
	"github.com/edgeflow/edgeflow/pipeline"
	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	exprbuiltin "github.com/expr-lang/expr/builtin"
	"github.com/expr-lang/expr/vm"
)

// builtin is a name that an expression sees for the message itself.
type builtin struct {
	name string
	get  func(m *pipeline.Message) any
	typ  any // a value of its type, for the type checker
}

var builtins = []builtin{
	{"key", func(m *pipeline.Message) any { return m.Key }, ""},
	{"topic", func(m *pipeline.Message) any { return m.Topic }, ""},
	{"meta", func(m *pipeline.Message) any {
		if m.Meta == nil {
			return map[string]string{}
		}
		return m.Meta
	}, map[string]string{}},
	{"source_time", func(m *pipeline.Message) any { return m.SourceTime }, time.Time{}},
	{"ingest_time", func(m *pipeline.Message) any { return m.IngestTime }, time.Time{}},
	{"fields", func(m *pipeline.Message) any { return m.Fields }, map[string]any{}},
}

// Reserved reports whether name is one of the names an expression sees for
// the message itself; a stage cannot set a field of that name, since
// expressions could not read it back.
func Reserved(name string) bool {
	return slices.ContainsFunc(builtins, func(b builtin) bool { return b.name == name })
}

// ReservedNames lists the reserved names.
func ReservedNames() []string {
	names := make([]string, len(builtins))
	for i, b := range builtins {
		names[i] = b.name
	}
	return names
}

// Program is a compiled expression. It is safe for concurrent use.
type Program struct {
	src  string
	prog *vm.Program
	uses []*builtin // the builtins the expression refers to
	// A VM is reusable but not safe for concurrent use. One stays cached
	// for the common single-worker case; sync.Pool serves the rest (a pool
	// alone would allocate a VM whenever a GC empties it, and under the
	// race detector on a quarter of the calls).
	vm   atomic.Pointer[vm.VM]
	vms  sync.Pool // *vm.VM
	bool bool
}

// Option changes how an expression is compiled.
type Option func(*Program)

// AsBool requires the expression to produce a bool: known non-bool types are
// compile errors, and EvalBool fails on other values (nil included) at run
// time.
func AsBool() Option { return func(p *Program) { p.bool = true } }

// Compile parses and type-checks src. Compile once, when a component is
// built, and evaluate many times.
func Compile(src string, opts ...Option) (*Program, error) {
	p := &Program{src: src}
	for _, o := range opts {
		o(p)
	}
	env := make(map[string]any, len(builtins))
	for _, b := range builtins {
		env[b.name] = b.typ
	}
	// expr.AsBool is not used: it turns a nil result (a missing field)
	// into false, and a condition on a field the message lacks should fail
	// loudly instead. The type is checked here and the value in EvalBool.
	prog, err := expr.Compile(src, expr.Env(env), expr.AllowUndefinedVariables())
	if err != nil {
		return nil, fmt.Errorf("expression %q does not compile: %w", src, err)
	}
	if t := prog.Node().Type(); p.bool && t != nil && t.Kind() != reflect.Bool && t.Kind() != reflect.Interface {
		return nil, fmt.Errorf("expression %q produces a %s, not a bool", src, t)
	}
	p.prog = prog
	node := prog.Node()
	if err := check(node); err != nil {
		return nil, fmt.Errorf("expression %q: %w", src, err)
	}
	ast.Walk(&node, identVisitor(func(name string) {
		for i := range builtins {
			if builtins[i].name == name && !slices.Contains(p.uses, &builtins[i]) {
				p.uses = append(p.uses, &builtins[i])
			}
		}
	}))
	p.vms.New = func() any { return &vm.VM{} }
	return p, nil
}

// MustCompile is Compile for expressions known to be valid (tests,
// constants); it panics on error.
func MustCompile(src string, opts ...Option) *Program {
	p, err := Compile(src, opts...)
	if err != nil {
		panic(err)
	}
	return p
}

// check finds what the type checker lets through, since every field's type
// is unknown until a message arrives, but that can only fail at run time:
// calls of functions that do not exist.
func check(node ast.Node) error {
	c := &checker{}
	ast.Walk(&node, c)
	return c.err
}

type checker struct{ err error }

func (c *checker) Visit(n *ast.Node) {
	if c.err != nil {
		return
	}
	if n, ok := (*n).(*ast.CallNode); ok {
		if id, ok := n.Callee.(*ast.IdentifierNode); ok {
			c.err = fmt.Errorf("unknown function %q%s", id.Value, didyoumean.Suggest(id.Value, exprbuiltin.Names))
		}
	}
}

type identVisitor func(string)

func (f identVisitor) Visit(n *ast.Node) {
	if id, ok := (*n).(*ast.IdentifierNode); ok {
		f(id.Value)
	}
}

// String returns the source of the expression.
func (p *Program) String() string { return p.src }

// scratch holds empty environments for messages without fields, so that
// evaluating them does not attach a map to the message.
var scratch = sync.Pool{New: func() any { return make(map[string]any, len(builtins)) }}

// Eval evaluates the expression against m.
//
// The fields map of m is the environment itself (copying it per message
// would cost more than the expression): the builtins the expression uses
// are put into it for the evaluation and taken out again afterwards, so m is
// unchanged when Eval returns. m must not be shared with another goroutine
// meanwhile, which the engine guarantees for the message a stage is given.
func (p *Program) Eval(m *pipeline.Message) (any, error) {
	env := m.Fields
	if env == nil {
		env = scratch.Get().(map[string]any)
		defer scratch.Put(env)
		defer clear(env)
	}
	var (
		saved [8]any
		had   [8]bool
	)
	for i, b := range p.uses {
		saved[i], had[i] = env[b.name]
		env[b.name] = b.get(m)
	}
	v := p.vm.Swap(nil)
	if v == nil {
		v = p.vms.Get().(*vm.VM)
	}
	out, err := v.Run(p.prog, env)
	if !p.vm.CompareAndSwap(nil, v) {
		p.vms.Put(v)
	}
	for i, b := range p.uses {
		if had[i] {
			env[b.name] = saved[i]
		} else {
			delete(env, b.name)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("expression %q: %w", p.src, err)
	}
	return out, nil
}

// ErrNotBool is returned by EvalBool when the result is not a bool.
var ErrNotBool = errors.New("result is not a bool")

// EvalBool evaluates a boolean expression (see AsBool).
func (p *Program) EvalBool(m *pipeline.Message) (bool, error) {
	out, err := p.Eval(m)
	if err != nil {
		return false, err
	}
	b, ok := out.(bool)
	if !ok {
		return false, fmt.Errorf("expression %q: %w (got %T %v)", p.src, ErrNotBool, out, out)
	}
	return b, nil
}
