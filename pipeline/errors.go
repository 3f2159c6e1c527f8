package pipeline

import "errors"

// permanentError marks a failure that no retry can mend.
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// Permanent marks err as a failure of the message itself, not of the
// destination: a payload the sink cannot encode, a topic template the
// message's fields cannot fill. A sink returns it so that the engine sends
// the message to the dead-letter sink at once instead of retrying it and
// nacking it, which would only bring it back.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err}
}

// IsPermanent reports whether err was marked with Permanent.
func IsPermanent(err error) bool {
	var p permanentError
	return errors.As(err, &p)
}

// unavailableError marks a failure of the destination, not of the message.
type unavailableError struct{ err error }

func (e unavailableError) Error() string { return e.err.Error() }
func (e unavailableError) Unwrap() error { return e.err }

// Unavailable marks err as the destination's failure: the sink is not
// connected, its broker is down. The message is not at fault, so a source
// that bounds the deliveries of a message that keeps failing (max_deliver)
// does not count this one: a long outage must not send good messages to
// the dead-letter sink. The engine retries it like any other failure.
func Unavailable(err error) error {
	if err == nil {
		return nil
	}
	return unavailableError{err}
}

// IsUnavailable reports whether err was marked with Unavailable.
func IsUnavailable(err error) bool {
	var u unavailableError
	return errors.As(err, &u)
}

// BatchError is returned by BatchSink.WriteBatch when only some messages of
// a batch failed. Errs is as long as the batch; nil entries were delivered.
// The engine retries only the failed ones (and dead-letters permanent
// failures).
type BatchError struct {
	Errs []error
}

func (e *BatchError) Error() string {
	failed, first := 0, error(nil)
	for _, err := range e.Errs {
		if err != nil {
			failed++
			if first == nil {
				first = err
			}
		}
	}
	if first == nil {
		return "batch: no failures"
	}
	if failed == 1 {
		return first.Error()
	}
	return first.Error() + " (and " + itoa(failed-1) + " more in the batch)"
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for ; n > 0; n /= 10 {
		i--
		b[i] = byte('0' + n%10)
	}
	return string(b[i:])
}

// outcomes spreads the result of writing batch over its messages.
func outcomes(batch []*Message, err error, into []error) []error {
	into = into[:0]
	if err != nil {
		// Only here: errors.As makes its target escape to the heap.
		var be *BatchError
		if errors.As(err, &be) && len(be.Errs) == len(batch) {
			return append(into, be.Errs...)
		}
	}
	for range batch {
		into = append(into, err)
	}
	return into
}
