// Package redact hides credentials in text bound for logs and error
// messages: the user:password@ part of URLs (mqtt://, nats://, rtsp://,
// http://...), which broker and camera addresses often carry.
package redact

import (
	"bytes"
	"io"
	"regexp"
	"strings"
)

// Mask replaces a hidden secret.
const Mask = "xxxxx"

// userinfo matches scheme://userinfo@ up to the host. Userinfo cannot hold
// '/', '?', '#' or whitespace unescaped; it ends at the last '@' before the
// host, so a password containing '@' is hidden whole.
var userinfo = regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.-]*://)([^/?#\s"']*)@`)

// Text returns s with the credentials of every URL in it masked: the
// password of user:password@, or a lone token (token@) whole. The user name
// stays, since it helps tell connections apart.
func Text(s string) string {
	if !strings.Contains(s, "@") || !strings.Contains(s, "://") {
		return s
	}
	return userinfo.ReplaceAllStringFunc(s, func(m string) string {
		sub := userinfo.FindStringSubmatch(m)
		scheme, info := sub[1], sub[2]
		if user, _, ok := strings.Cut(info, ":"); ok {
			return scheme + user + ":" + Mask + "@"
		}
		return scheme + Mask + "@"
	})
}

// Error is err's message with credentials masked, or "" for nil. Use it
// where an error's text leaves the process (logs, HTTP answers).
func Error(err error) string {
	if err == nil {
		return ""
	}
	return Text(err.Error())
}

// Writer returns an io.Writer that masks credentials in what it passes on
// to w. Put it under a logger so that no log line, whatever field or error
// carries a URL, shows a password. Each Write must hold whole URLs, as a
// log line does.
func Writer(w io.Writer) io.Writer { return writer{w} }

type writer struct{ w io.Writer }

func (r writer) Write(p []byte) (int, error) {
	if !bytes.Contains(p, []byte("://")) || !bytes.Contains(p, []byte("@")) {
		return r.w.Write(p)
	}
	if _, err := io.WriteString(r.w, Text(string(p))); err != nil {
		return 0, err
	}
	return len(p), nil
}
