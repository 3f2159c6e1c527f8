package reference

import (
	"bufio"
	"fmt"
	"io"
	"strings"

	"github.com/edgeflow/edgeflow/component"
	"github.com/edgeflow/edgeflow/config"
)

// Markdown writes the whole reference: the file's top-level keys, the keys
// common to all nodes, then every connection, source, stage and sink type.
func Markdown(w io.Writer) error {
	b := bufio.NewWriter(w)
	p := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }

	p("# Component reference\n\n")
	p("<!-- Generated from the component specs by `make docs`; do not edit. -->\n\n")
	p("A pipeline file names its nodes under `sources:`, `stages:` and `sinks:`; each node has a\n")
	p("`type:` (one of the types below) and that type's keys, and stages and sinks name their\n")
	p("`input:`. Shared broker connections live under `connections:`. Values may use\n")
	p("`${VAR}` and `${VAR:-default}` to read the environment (`$$` is a literal `$`).\n")
	p("`edgeflow components TYPE` prints one section of this page; the JSON Schema of the file\n")
	p("is [edgeflow.schema.json](edgeflow.schema.json).\n\n")

	p("## Contents\n\n")
	p("- [Pipeline file](#pipeline-file)\n- [Common node keys](#common-node-keys)\n")
	if conns := component.AllConnections(); len(conns) > 0 {
		p("- [Connections](#connections): %s\n", links(connNames(conns), "connection"))
	}
	for _, k := range Kinds {
		p("- [%s](#%s): %s\n", KindTitle(k), Section(k), links(component.Names(k), k.String()))
	}
	p("\n")

	p("## Pipeline file\n\nThe top-level keys of a pipeline file.\n\n")
	fieldTable(b, config.TopLevelFields())

	p("## Common node keys\n\n")
	p("Every node accepts these keys besides its type's own. `batch` is accepted only by types\n")
	p("marked *batching*. The `dead_letter` sink takes the sink keys except `input`: failed\n")
	p("messages reach it by themselves, with the failing node and the error in their metadata.\n\n")
	for _, k := range Kinds {
		p("### %s\n\n", KindTitle(k))
		fieldTable(b, config.NodeFields(k, true))
	}

	if conns := component.AllConnections(); len(conns) > 0 {
		p("## Connections\n\n")
		p("A connection is opened once and shared by every source and sink that names it.\n\n")
		for _, c := range conns {
			writeConnection(b, c, 3)
		}
	}
	for _, k := range Kinds {
		p("## %s\n\n", KindTitle(k))
		specs := component.All(k)
		if len(specs) == 0 {
			p("None registered.\n\n")
		}
		for _, s := range specs {
			writeSpec(b, s, 3)
		}
	}
	return b.Flush()
}

// WriteComponent writes the reference of one component type, as a section
// of its own.
func WriteComponent(w io.Writer, s *component.Spec) error {
	b := bufio.NewWriter(w)
	writeSpec(b, s, 1)
	common := config.NodeFields(s.Kind, s.Batching)
	names := make([]string, 0, len(common))
	for _, f := range common {
		names = append(names, "`"+f.Name+"`")
	}
	fmt.Fprintf(b, "Common %s keys: %s (see `edgeflow components --format markdown`).\n", s.Kind, strings.Join(names, ", "))
	return b.Flush()
}

// WriteConnection writes the reference of one connection type.
func WriteConnection(w io.Writer, c *component.ConnectionSpec) error {
	b := bufio.NewWriter(w)
	writeConnection(b, c, 1)
	return b.Flush()
}

func writeSpec(b *bufio.Writer, s *component.Spec, level int) {
	tag := ""
	if s.Batching {
		tag = " *batching*"
	}
	fmt.Fprintf(b, "%s `%s` %s\n\n", strings.Repeat("#", level), s.Name, s.Kind)
	if s.Summary != "" {
		fmt.Fprintf(b, "%s%s\n\n", s.Summary, tag)
	}
	body(b, s.Description, s.Fields, s.Example)
}

func writeConnection(b *bufio.Writer, c *component.ConnectionSpec, level int) {
	fmt.Fprintf(b, "%s `%s` connection\n\n", strings.Repeat("#", level), c.Name)
	if c.Summary != "" {
		fmt.Fprintf(b, "%s\n\n", c.Summary)
	}
	body(b, c.Description, c.Fields, c.Example)
}

func body(b *bufio.Writer, description string, fields []component.Field, example string) {
	if d := strings.TrimSpace(description); d != "" {
		fmt.Fprintf(b, "%s\n\n", d)
	}
	if len(fields) > 0 {
		fieldTable(b, fields)
	} else {
		fmt.Fprintf(b, "No options.\n\n")
	}
	if e := strings.Trim(example, "\n"); e != "" {
		fmt.Fprintf(b, "Example:\n\n```yaml\n%s\n```\n\n", e)
	}
}

func fieldTable(b *bufio.Writer, fields []component.Field) {
	fmt.Fprintf(b, "| Key | Type | Default | Description |\n| --- | --- | --- | --- |\n")
	for _, r := range flatten("", fields) {
		def := formatDefault(r.f)
		switch {
		case def != "":
			def = "`" + def + "`"
		case r.f.Required():
			def = "**required**"
		}
		desc := r.f.Description
		if c := constraints(r.f); len(c) > 0 {
			desc = strings.TrimSuffix(desc, ".") + ". " + capitalize(strings.Join(c, "; ")) + "."
		}
		if r.f.Example != "" {
			desc += " Example: `" + r.f.Example + "`."
		}
		fmt.Fprintf(b, "| `%s` | %s | %s | %s |\n", r.key, r.f.Type, def, cell(desc))
	}
	fmt.Fprintf(b, "\n")
}

// cell makes text safe for one Markdown table cell.
func cell(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	return strings.ReplaceAll(s, "|", `\|`)
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func links(names []string, kind string) string {
	if len(names) == 0 {
		return "none"
	}
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = fmt.Sprintf("[%s](#%s-%s)", n, anchor(n), kind)
	}
	return strings.Join(out, ", ")
}

// anchor approximates the heading ids GitHub generates: lower case, spaces
// to dashes, punctuation other than - and _ dropped.
func anchor(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9'):
			b.WriteRune(r)
		}
	}
	return b.String()
}

func connNames(conns []*component.ConnectionSpec) []string {
	names := make([]string, len(conns))
	for i, c := range conns {
		names[i] = c.Name
	}
	return names
}
