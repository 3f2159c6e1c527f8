package models

import "fmt"

// OpenBytes loads a serialised model that has no file: a model made on
// the device (an autoencoder fine-tuned on a stream and re-quantised).
// name stands for the path in logs and errors. It is vetted as a file is
// (kernel check, Check); opts.SHA256 must be empty, since such a model is
// new by definition. Later versions come in through Swap; Reload and
// Watch have no file to read.
func OpenBytes(name string, data []byte, opts LoadOptions) (*Model, error) {
	if err := opts.Options.Validate(); err != nil {
		return nil, err
	}
	if err := opts.KernelCheck.Validate(); err != nil {
		return nil, err
	}
	if opts.SHA256 != "" {
		return nil, fmt.Errorf("model %s: a model made in memory cannot be pinned by sha256", name)
	}
	m := &Model{path: name, opts: opts}
	if opts.Logger != nil {
		m.log = *opts.Logger
	}
	v, err := m.loadBytes(data)
	if err != nil {
		return nil, err
	}
	m.cur.Store(v)
	return m, nil
}

// Swap makes data the current version, through the same path as Reload:
// it must load and pass the kernel check and Check, or the current
// version keeps serving and the error is returned. Runs in flight finish
// on the old version, which is closed after the last one returns, so
// callers of Run and Use see no gap. A model pinned by sha256 refuses.
func (m *Model) Swap(data []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cur.Load() == nil {
		return ErrClosed
	}
	if m.opts.SHA256 != "" {
		m.failed.Add(1)
		return fmt.Errorf("model %s: pinned by sha256, a new version cannot be swapped in", m.path)
	}
	v, err := m.loadBytes(data)
	if err != nil {
		m.failed.Add(1)
		return err
	}
	return m.install(v)
}

// loadBytes is load without the file: session, kernel check, Check.
func (m *Model) loadBytes(data []byte) (*version, error) {
	sess, err := NewSession(data, m.opts.Options)
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", m.path, err)
	}
	sess.info.Path = m.path
	if err := m.checkKernels(data, sess); err != nil {
		sess.Close()
		return nil, err
	}
	if m.opts.Check != nil {
		if err := m.opts.Check(sess.info); err != nil {
			sess.Close()
			return nil, fmt.Errorf("model %s: %w", m.path, err)
		}
	}
	v := &version{sess: sess, log: &m.log}
	v.refs.Store(1)
	return v, nil
}
