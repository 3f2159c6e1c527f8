package mqtt

import (
	"errors"
	"strings"
)

// sharedFilter splits a $share/group/filter into its filter; ok is false for
// an ordinary filter.
func sharedFilter(f string) (filter string, ok bool) {
	rest, ok := strings.CutPrefix(f, "$share/")
	if !ok {
		return f, false
	}
	_, filter, ok = strings.Cut(rest, "/")
	return filter, ok
}

// validFilter reports a problem with a topic filter, or nil.
func validFilter(f string) error {
	if sf, shared := sharedFilter(f); shared {
		f = sf
	} else if strings.HasPrefix(f, "$share/") {
		return errors.New("shared subscription must be $share/<group>/<filter>")
	}
	if f == "" {
		return errors.New("empty topic filter")
	}
	levels := strings.Split(f, "/")
	for i, l := range levels {
		switch {
		case l == "#" && i != len(levels)-1:
			return errors.New("# must be the last level")
		case l != "#" && l != "+" && strings.ContainsAny(l, "+#"):
			return errors.New("+ and # must fill a whole level")
		}
	}
	return nil
}

// topicMatches reports whether topic matches the MQTT filter. Wildcards at
// the first level do not match topics starting with $ (MQTT-4.7.2-1).
func topicMatches(filter, topic string) bool {
	if strings.HasPrefix(topic, "$") && (strings.HasPrefix(filter, "+") || strings.HasPrefix(filter, "#")) {
		return false
	}
	for {
		f, frest, fmore := strings.Cut(filter, "/")
		if f == "#" {
			return true
		}
		t, trest, tmore := strings.Cut(topic, "/")
		if f != "+" && f != t {
			return false
		}
		if !fmore || !tmore {
			// "a/#" matches "a" too: the # level stands for zero levels.
			return fmore == tmore || (fmore && frest == "#")
		}
		filter, topic = frest, trest
	}
}
