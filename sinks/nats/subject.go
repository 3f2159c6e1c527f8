package nats

import (
	"errors"
	"fmt"
	"strings"
)

// subjectByte makes a substituted value safe inside a subject: whitespace
// and wildcards become '_'. Dots are kept, so {topic} can carry a whole
// subject; an empty token that results is caught by checkSubject.
func subjectByte(c byte) byte {
	switch c {
	case ' ', '\t', '\r', '\n', '*', '>':
		return '_'
	}
	return c
}

// checkSubject rejects a rendered subject the server would refuse.
func checkSubject(s string) error {
	if s == "" {
		return errors.New("empty subject")
	}
	if s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return fmt.Errorf("subject %q has an empty token", s)
	}
	if strings.ContainsAny(s, " \t\r\n*>") {
		return fmt.Errorf("subject %q has whitespace or a wildcard", s)
	}
	return nil
}
