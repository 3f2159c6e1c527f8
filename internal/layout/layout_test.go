package layout

import (
	"bufio"
	"bytes"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/edgeflow/edgeflow/"

// rule forbids packages under from (a path prefix inside the module) to
// import, directly, any package under one of the prefixes in deny.
type rule struct {
	from   string
	deny   []string
	except []string // importers under from that the rule does not cover
	why    string
}

var components = []string{"sources/", "stages/", "sinks/"}

var rules = []rule{
	{from: "pipeline", deny: append([]string{"component", "config", "connections/", "models", "vision", "anomaly", "codec"}, components...),
		why: "the engine imports no component"},
	{from: "models", deny: append([]string{"pipeline", "component", "config", "connections/", "vision", "anomaly", "codec"}, components...),
		why: "models know models, not pipelines or tasks"},
	{from: "connections/", deny: append([]string{"pipeline", "config"}, components...),
		why: "connections hold broker sessions, not pipeline nodes"},
	{from: "component", deny: append([]string{"connections/", "models", "vision", "anomaly"}, components...),
		except: []string{"component/reference"}, why: "the component kit knows no concrete component"},
	{from: "vision", deny: append([]string{"pipeline", "component", "config", "connections/"}, components...),
		why: "task libraries are usable without the engine"},
	{from: "anomaly", deny: append([]string{"pipeline", "component", "connections/"}, components...),
		except: []string{"anomaly/replay"}, why: "task libraries are usable without the engine (replay drives a whole pipeline on purpose)"},
}

// TestImportRules lists every package's direct imports (tests excluded) and
// checks them against rules. It also checks that components do not import
// one another: sources/mqtt may not import sinks/mqtt, for example.
func TestImportRules(t *testing.T) {
	imports := listImports(t)
	if len(imports) < 20 {
		t.Fatalf("go list found only %d packages; is the test run inside the module?", len(imports))
	}
	for pkg, deps := range imports {
		for _, r := range rules {
			if !under(pkg, r.from) || excepted(pkg, r.except) {
				continue
			}
			for _, d := range deps {
				for _, deny := range r.deny {
					if under(d, deny) {
						t.Errorf("%s imports %s: %s", pkg, d, r.why)
					}
				}
			}
		}
		if c := componentOf(pkg); c != "" && !isAggregator(pkg) {
			for _, d := range deps {
				if dc := componentOf(d); dc != "" && dc != c {
					t.Errorf("%s imports %s: a component imports no other component", pkg, d)
				}
			}
		}
	}
}

// under reports whether pkg (module-relative) is prefix itself or below it.
// A prefix ending in "/" matches only packages below it.
func under(pkg, prefix string) bool {
	if strings.HasSuffix(prefix, "/") {
		return strings.HasPrefix(pkg, prefix)
	}
	return pkg == prefix || strings.HasPrefix(pkg, prefix+"/")
}

func excepted(pkg string, except []string) bool {
	for _, e := range except {
		if under(pkg, e) {
			return true
		}
	}
	return false
}

// componentOf returns "sources/mqtt" for sources/mqtt and its subpackages,
// and "" for packages that are not components.
func componentOf(pkg string) string {
	for _, c := range components {
		if rest, ok := strings.CutPrefix(pkg, c); ok {
			name, _, _ := strings.Cut(rest, "/")
			return c + name
		}
	}
	return ""
}

// isAggregator reports whether pkg is sources, stages or sinks itself: the
// packages whose only job is to import every component so it registers.
func isAggregator(pkg string) bool {
	for _, c := range components {
		if pkg == strings.TrimSuffix(c, "/") {
			return true
		}
	}
	return false
}

func listImports(t *testing.T) map[string][]string {
	t.Helper()
	cmd := exec.Command("go", "list", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", module+"...")
	cmd.Dir = "../.."
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	imports := map[string][]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		pkg, ok := strings.CutPrefix(fields[0], module)
		if !ok {
			continue
		}
		var deps []string
		for _, d := range fields[1:] {
			if rel, ok := strings.CutPrefix(d, module); ok {
				deps = append(deps, rel)
			}
		}
		imports[pkg] = deps
	}
	return imports
}
