package pipeline

import (
	"encoding/base64"
	"unicode/utf8"
)

// Fields of a dead-letter record: what the dead-letter sink is given in
// Message.Fields, whatever the message looked like when it failed.
const (
	DeadLetterError         = "error"          // why the message failed
	DeadLetterNode          = "failed_node"    // the node that failed it
	DeadLetterTopic         = "topic"          // the topic it arrived on, if any
	DeadLetterKey           = "key"            // its key, if any
	DeadLetterFields        = "fields"         // its decoded fields, if it had any
	DeadLetterPayload       = "payload"        // its payload, when it is UTF-8 text
	DeadLetterPayloadBase64 = "payload_base64" // its payload, when it is not
)

// deadLetterRecord turns m into what the dead-letter sink stores. The
// dead-letter sink is the last resort, so what reaches it must be
// encodable by every encoder: a payload that did not decode (no fields,
// perhaps not even text) or fields that will not encode would otherwise
// fail there too and be redelivered for ever. The record carries the reason
// and the node, the original fields, and the payload's bytes (base64 unless
// they are text). m.Payload stays as received, for the raw encoder, and
// m.Meta keeps the reason under MetaDeadLetterError and MetaDeadLetterNode.
func deadLetterRecord(m *Message) {
	r := make(map[string]any, 6)
	r[DeadLetterError] = m.Meta[MetaDeadLetterError]
	r[DeadLetterNode] = m.Meta[MetaDeadLetterNode]
	if m.Topic != "" {
		r[DeadLetterTopic] = m.Topic
	}
	if m.Key != "" {
		r[DeadLetterKey] = m.Key
	}
	if m.Fields != nil {
		r[DeadLetterFields] = m.Fields
	}
	switch {
	case len(m.Payload) == 0:
	case utf8.Valid(m.Payload):
		r[DeadLetterPayload] = string(m.Payload)
	default:
		r[DeadLetterPayloadBase64] = base64.StdEncoding.EncodeToString(m.Payload)
	}
	m.Fields = r
}

// unencodable strips a dead-letter record of its original fields, the one
// part an encoder can refuse (a value JSON cannot hold), noting why.
func unencodable(m *Message, err error) {
	if m.Fields == nil {
		return
	}
	if _, ok := m.Fields[DeadLetterFields]; ok {
		delete(m.Fields, DeadLetterFields)
		m.Fields["fields_error"] = err.Error()
	}
}
