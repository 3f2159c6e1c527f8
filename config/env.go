package config

import (
	"fmt"
	"os"
	"strings"

	"github.com/edgeflow/edgeflow/component"
	"go.yaml.in/yaml/v3"
)

// expandEnv replaces ${VAR} and ${VAR:-default} in every scalar value under
// n (mapping keys are left alone) and returns a problem for each variable
// that is unset and has no default. Plain scalars that changed lose their
// resolved tag, so that `port: ${PORT}` becomes an int like `port: 9000`.
// Alias nodes are not followed: their target is expanded where it is written,
// and following them could loop on a self-referencing anchor.
func expandEnv(n *yaml.Node, file, key string, errs *[]error) {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			expandEnv(c, file, key, errs)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			expandEnv(n.Content[i+1], file, joinKey(key, n.Content[i].Value), errs)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			expandEnv(c, file, fmt.Sprintf("%s[%d]", key, i), errs)
		}
	case yaml.ScalarNode:
		if !strings.Contains(n.Value, "$") {
			return
		}
		v, err := expand(n.Value, os.LookupEnv)
		if err != nil {
			*errs = append(*errs, &component.Error{File: file, Line: n.Line, Column: n.Column, Key: key, Msg: err.Error()})
			return
		}
		if v == n.Value {
			return
		}
		n.Value = v
		if n.Style&(yaml.TaggedStyle|yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) == 0 {
			n.Tag = "" // re-resolved by ShortTag: ${PORT} -> !!int
		}
	}
}

// expand does the substitution on one string. `$$` is a literal `$`, and a
// `$` not followed by `{` or `$` is kept as is (regular expressions, prices).
func expand(s string, lookup func(string) (string, bool)) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '$' || i+1 == len(s) {
			b.WriteByte(c)
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
			continue
		case '{':
		default:
			b.WriteByte(c)
			continue
		}
		end := strings.IndexByte(s[i+2:], '}')
		if end < 0 {
			return "", fmt.Errorf("unterminated %q: want ${NAME} or ${NAME:-default}", s[i:])
		}
		expr := s[i+2 : i+2+end]
		name, def, hasDef := strings.Cut(expr, ":-")
		if !validEnvName(name) {
			return "", fmt.Errorf("bad environment variable name %q in ${%s}", name, expr)
		}
		v, ok := lookup(name)
		switch {
		case hasDef && v == "":
			v = def
		case !ok:
			return "", fmt.Errorf("environment variable %s is not set (write ${%s:-default} to give a default, $$ for a literal $)", name, name)
		}
		b.WriteString(v)
		i += 2 + end
	}
	return b.String(), nil
}

func validEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		letter := c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
		if !letter && (i == 0 || c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// joinKey appends a key to a dotted path.
func joinKey(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}
