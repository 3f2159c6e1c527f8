package admin

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
)

// ui holds the dashboard page: hand-written HTML, CSS and JavaScript, no
// build step and nothing fetched from elsewhere.
//
//go:embed ui
var ui embed.FS

// routeDashboard adds the dashboard's routes: the page at /, its assets
// under /ui/, the whole state at /api/state and a server-sent event per
// sample at /api/events.
func (s *Server) routeDashboard(mux *http.ServeMux) {
	assets, _ := fs.Sub(ui, "ui") // cannot fail: ui is embedded
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		http.ServeFileFS(w, r, assets, "index.html")
	})
	mux.Handle("GET /ui/", http.StripPrefix("/ui/", http.FileServerFS(assets)))
	mux.HandleFunc("GET /api/state", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, s.sampler.state())
	})
	mux.HandleFunc("GET /api/events", s.serveEvents)
}

// serveEvents streams the status and newest sample once a second until the
// client leaves or the server stops.
func (s *Server) serveEvents(w http.ResponseWriter, r *http.Request) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	flusher.Flush()
	for {
		last, st, changed := s.sampler.latest()
		if last != nil {
			st.Last = last
			b, err := json.Marshal(st)
			if err != nil {
				s.log.Error().Err(err).Msg("dashboard: encode sample")
				return
			}
			if _, err := fmt.Fprintf(w, "data: %s\n\n", b); err != nil {
				return // the client left
			}
			flusher.Flush()
		}
		select {
		case <-changed:
		case <-r.Context().Done():
			return
		case <-s.stopping:
			return
		}
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if err := json.NewEncoder(w).Encode(v); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
}
