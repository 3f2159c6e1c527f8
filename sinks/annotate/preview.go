//go:build gocv

package annotate

// PreviewURL is the MJPEG stream of the annotated frames, for the
// dashboard (admin.Previewer); "" until the server has started.
func (s *Sink) PreviewURL() string {
	if addr := s.Addr(); addr != "" {
		return "http://" + addr + "/stream.mjpg"
	}
	return ""
}
