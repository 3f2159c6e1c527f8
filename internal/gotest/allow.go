package main

import (
	"fmt"
	"strings"
)

// allowed is one entry of the allow-list.
type allowed struct {
	pkg, test, reason string
}

// allowList is the parsed allow-list; module resolves ./dir packages.
type allowList struct {
	module  string
	entries []allowed
}

// parseAllowList reads "package test reason..." lines; blank lines and
// '#' comments are ignored. Every entry needs a reason.
func parseAllowList(name, data, module string) (allowList, error) {
	out := allowList{module: module}
	for i, raw := range strings.Split(data, "\n") {
		text, _, _ := strings.Cut(raw, "#")
		f := strings.Fields(text)
		if len(f) == 0 {
			continue
		}
		if len(f) < 3 {
			return allowList{}, fmt.Errorf("%s:%d: want `package test reason`, got %q", name, i+1, strings.TrimSpace(raw))
		}
		out.entries = append(out.entries, allowed{pkg: f[0], test: f[1], reason: strings.Join(f[2:], " ")})
	}
	return out, nil
}

// match returns the entry allowing test of pkg (an import path), or nil.
func (l allowList) match(pkg, test string) *allowed {
	for i := range l.entries {
		a := &l.entries[i]
		if !l.pkgMatch(a.pkg, pkg) {
			continue
		}
		if prefix, ok := strings.CutSuffix(a.test, "*"); ok {
			if strings.HasPrefix(test, prefix) {
				return a
			}
		} else if a.test == test {
			return a
		}
	}
	return nil
}

// pkgMatch matches the import path pkg against a full path or ./dir
// (relative to the module).
func (l allowList) pkgMatch(pattern, pkg string) bool {
	if rel, ok := strings.CutPrefix(pattern, "./"); ok {
		return pkg == l.module+"/"+rel
	}
	return pattern == pkg
}

// modulePath reads the module path from go.mod data.
func modulePath(gomod string) string {
	for _, l := range strings.Split(gomod, "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(l), "module "); ok {
			return strings.Trim(strings.TrimSpace(rest), `"`)
		}
	}
	return ""
}
