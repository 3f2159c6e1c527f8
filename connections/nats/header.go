package nats

import (
	"strings"

	"github.com/nats-io/nats.go"
)

// HeaderToMeta copies NATS headers into meta, which must not be nil. A
// header with several values becomes one entry, the values joined by ", "
// as HTTP does.
func HeaderToMeta(h nats.Header, meta map[string]string) {
	for k, vs := range h {
		switch len(vs) {
		case 0:
		case 1:
			meta[k] = vs[0]
		default:
			meta[k] = strings.Join(vs, ", ")
		}
	}
}

// MetaToHeader returns meta as NATS headers, or nil when there is nothing
// to send. Keys starting with "Nats-" are left out: they are JetStream
// control headers (Nats-Msg-Id, Nats-Expected-Last-Sequence, ...) that an
// incoming message carried, and forwarding them would make the server dedup
// or reject the outgoing one. Keys that are not valid header names are
// skipped, and line breaks in values become spaces, so that no metadata can
// corrupt the protocol.
func MetaToHeader(meta map[string]string) nats.Header {
	if len(meta) == 0 {
		return nil
	}
	h := make(nats.Header, len(meta))
	for k, v := range meta {
		if !validHeaderKey(k) || hasPrefixFold(k, "Nats-") {
			continue
		}
		if strings.ContainsAny(v, "\r\n") {
			v = strings.NewReplacer("\r\n", " ", "\r", " ", "\n", " ").Replace(v)
		}
		h[k] = []string{v}
	}
	if len(h) == 0 {
		return nil
	}
	return h
}

func validHeaderKey(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if c <= ' ' || c >= 0x7f || c == ':' {
			return false
		}
	}
	return true
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}
