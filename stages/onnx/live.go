package onnx

// ModelVersion tells which model file the stage runs and the SHA-256 of
// the version loaded now (admin.Modeler); ok is false before the first
// message has loaded it.
func (s *Stage) ModelVersion() (path, sha256 string, ok bool) {
	s.mu.Lock()
	m := s.model
	s.mu.Unlock()
	if m == nil {
		return s.path, "", false
	}
	info, err := m.Info()
	if err != nil {
		return s.path, "", false
	}
	return s.path, info.SHA256, true
}
