package codec

import (
	"fmt"

	"github.com/edgeflow/edgeflow/pipeline"
)

// AppendLines appends each message of batch to b as one encoded line
// ending in '\n', the framing of the line-oriented sinks (file, stdout).
// With an AppendEncoder the lines cost no allocation of their own.
//
// A message that cannot be encoded never will be, so it is left out and
// its error, marked permanent and prefixed with sink, is at its index in
// errs: the engine sends it alone to the dead-letter sink and delivers
// the rest. errs is nil when every message was encoded.
func AppendLines(b []byte, enc Encoder, batch []*pipeline.Message, sink string) (out []byte, errs []error) {
	ae, _ := enc.(AppendEncoder)
	for i, m := range batch {
		n := len(b)
		var err error
		if ae != nil {
			var grown []byte
			if grown, err = ae.AppendEncode(b, m); err == nil {
				b = grown
			}
		} else {
			var line []byte
			if line, err = enc.Encode(m); err == nil {
				b = append(b, line...)
			}
		}
		if err != nil {
			b = b[:n] // whatever a failed encoder appended is not a line
			if errs == nil {
				errs = make([]error, len(batch))
			}
			errs[i] = pipeline.Permanent(fmt.Errorf("%s: %w", sink, err))
			continue
		}
		b = append(b, '\n')
	}
	return b, errs
}
