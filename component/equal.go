package component

import "reflect"

// Equal reports whether two configs hold the same values (after defaults
// and environment expansion), so that a hot reload can keep a component
// whose configuration did not change. Two nil configs are equal.
func (c *Config) Equal(o *Config) bool {
	if c == nil || o == nil {
		return c == o
	}
	return c.path == o.path && reflect.DeepEqual(c.values, o.values)
}
