package expression

import (
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/edgeflow/edgeflow/component/schema"
	"github.com/edgeflow/edgeflow/internal/didyoumean"
	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/parser"
	"github.com/expr-lang/expr/types"
)

// Error is a problem Check found, at a place in the expression.
type Error struct {
	Src          string
	Line, Column int // 1-based, in Src
	Msg          string
}

func (e *Error) Error() string { return fmt.Sprintf("expression %q: %s", e.Src, e.Msg) }

// Position is where in the expression the problem lies (1-based), for
// component.Config.TextError.
func (e *Error) Position() (line, col int) { return e.Line, e.Column }

// Check type-checks src, an expression Compile accepted, against the fields
// of the messages it will see, and returns the type of its result. It finds
// at validation what would otherwise fail message by message at run time:
// a name that is not a field of a closed schema (with the closest one
// suggested), operands and arguments of the wrong type (`temperature >
// "hot"`, `upper(value)` on a number), `%` on a float field or one an open
// schema does not list (decoders read every number as a float). Fields
// listed as Any, and otherwise the names an open schema does not list, are
// accepted as anything.
//
// Check is for validation only: the Program that runs is compiled without
// field types (Compile), so what Check costs, and what it assumes, never
// reaches the message path.
func Check(src string, s schema.Schema, opts ...Option) (schema.Type, error) {
	p := &Program{src: src}
	for _, o := range opts {
		o(p)
	}
	tree, err := parser.Parse(src)
	if err != nil {
		return schema.Any, &Error{Src: src, Line: 1, Column: 1, Msg: err.Error()}
	}
	if err := modulo(tree.Node, src, s); err != nil {
		return schema.Any, err
	}
	prog, err := expr.Compile(src, expr.Env(typedEnv(s)))
	if err != nil {
		return schema.Any, checkError(src, err, s)
	}
	t := prog.Node().Type()
	if p.bool && t != nil && t.Kind() != reflect.Bool && t.Kind() != reflect.Interface {
		return schema.Any, &Error{Src: src, Line: 1, Column: 1, Msg: fmt.Sprintf("produces %s, not a bool", article(typeName(t)))}
	}
	if t == nil {
		return schema.Any, nil
	}
	return schema.Of(reflect.Zero(t).Interface()), nil
}

// typedEnv is the environment of s as expr's type checker sees it: the
// names for the message itself, the fields, and, when s is open, any other
// name as an unknown.
func typedEnv(s schema.Schema) types.Map {
	fields := types.Map{}
	for name, t := range s.Fields {
		fields[name] = exprType(t)
	}
	if !s.Closed {
		fields[types.Extra] = types.Any
	}
	env := types.Map{}
	for name, t := range fields {
		env[name] = t
	}
	for _, b := range builtins {
		env[b.name] = types.TypeOf(b.typ)
	}
	env["fields"] = fields
	return env
}

func exprType(t schema.Type) types.Type {
	if z := t.Zero(); z != nil {
		return types.TypeOf(z)
	}
	return types.Any
}

// checkError turns an error of expr's checker into an *Error, naming
// fields as the pipeline file does.
func checkError(src string, err error, s schema.Schema) error {
	fe, ok := err.(*file.Error)
	if !ok {
		return &Error{Src: src, Line: 1, Column: 1, Msg: err.Error()}
	}
	e := &Error{Src: src, Line: fe.Line, Column: fe.Column + 1, Msg: goTypes.Replace(strings.TrimSpace(fe.Message))}
	if name, ok := strings.CutPrefix(fe.Message, "unknown name "); ok {
		e.Msg = fmt.Sprintf("no field %q%s; %s", name, didyoumean.Suggest(name, s.Names()), known(s))
	} else if name, ok := strings.CutPrefix(fe.Message, "unknown field "); ok {
		e.Msg = fmt.Sprintf("no field %q in fields%s; %s", name, didyoumean.Suggest(name, s.Names()), known(s))
	}
	return e
}

// goTypes names Go types in expr's messages as the pipeline file does.
var goTypes = strings.NewReplacer("float64", "float", "interface {}", "any", "[]float32", "floats",
	"[]any", "list", "map[string]any", "object", "[]int64", "shape", "time.Time", "time")

// known describes the fields of s for an error message.
func known(s schema.Schema) string {
	var parts []string
	for _, n := range s.Names() {
		if !Reserved(n) {
			parts = append(parts, fmt.Sprintf("%s (%s)", n, s.Fields[n]))
		}
	}
	msg := "the messages here have no fields"
	if len(parts) > 0 {
		msg = "the messages here have " + strings.Join(parts, ", ")
	}
	if s.From != "" {
		msg += " (" + s.From + ")"
	}
	return msg
}

// modulo reports `%` applied to a field that holds a float, or that an open
// schema does not list: every decoder reads numbers as floats, and `%` takes integers,
// so it would fail on every message. (expr's own message for the typed
// case does not say why the field is a float, nor what to write.)
func modulo(root ast.Node, src string, s schema.Schema) error {
	bound := map[string]bool{} // let-variables are not fields
	ast.Walk(&root, visitFunc(func(n *ast.Node) {
		if d, ok := (*n).(*ast.VariableDeclaratorNode); ok {
			bound[d.Name] = true
		}
	}))
	var found *Error
	ast.Walk(&root, visitFunc(func(n *ast.Node) {
		b, ok := (*n).(*ast.BinaryNode)
		if found != nil || !ok || b.Operator != "%" {
			return
		}
		for _, side := range []ast.Node{b.Left, b.Right} {
			name, ok := fieldRef(side)
			if !ok || bound[name] {
				continue
			}
			// A field listed as Any is one whose type is not one of
			// schema's (a uint64 frame id), or declared so: no guess.
			t, listed := s.Lookup(strings.TrimPrefix(name, "fields."))
			if listed && t != schema.Float || !listed && s.Closed {
				continue // unknown names are the type checker's to report
			}
			what := "number fields are floats"
			if t == schema.Float {
				what = name + " is a float"
			}
			found = at(src, b.Location(), fmt.Sprintf(
				"%% takes integers, and %s (JSON, CSV and generated numbers all are): write int(%s)", what, name))
			return
		}
	}))
	if found != nil {
		return found
	}
	return nil
}

type visitFunc func(*ast.Node)

func (f visitFunc) Visit(n *ast.Node) { f(n) }

// fieldRef reports whether n reads a message field: a name that is not a
// builtin, or fields.NAME / fields["NAME"].
func fieldRef(n ast.Node) (string, bool) {
	switch n := n.(type) {
	case *ast.IdentifierNode:
		return n.Value, !Reserved(n.Value)
	case *ast.MemberNode:
		if id, ok := n.Node.(*ast.IdentifierNode); ok && id.Value == "fields" {
			if s, ok := n.Property.(*ast.StringNode); ok {
				return "fields." + s.Value, true
			}
		}
	}
	return "", false
}

// at is an *Error at loc in src.
func at(src string, loc file.Location, msg string) *Error {
	fe := (&file.Error{Location: loc}).Bind(file.NewSource(src))
	return &Error{Src: src, Line: fe.Line, Column: fe.Column + 1, Msg: msg}
}

var timeType = reflect.TypeOf(time.Time{})

// typeName names a Go type as the pipeline file does.
func typeName(t reflect.Type) string {
	if t == timeType {
		return "time"
	}
	if st := schema.Of(reflect.Zero(t).Interface()); st != schema.Any {
		return st.String()
	}
	return t.String()
}

// article is name with its indefinite article: "a float", "an object".
func article(name string) string {
	if name != "" && strings.ContainsRune("aeiou", rune(name[0])) {
		return "an " + name
	}
	return "a " + name
}
