package admin

import (
	"time"

	"github.com/edgeflow/edgeflow/pipeline"
)

// Viewer is implemented by a Target that can tell the dashboard more than
// its metrics: the graph with component types, the components themselves
// (probed for the optional interfaces below) and reload status. A plain
// *pipeline.Pipeline target gets a dashboard without types or probes.
type Viewer interface {
	View() View
}

// View is what the dashboard shows of a running pipeline besides metrics.
type View struct {
	// Pipeline is the running pipeline (after a reload, the new one).
	Pipeline *pipeline.Pipeline
	// Types are the component types by node name and by connection name.
	Types map[string]string
	// Components are the node components by name; Connections the shared
	// connections by name. Both are probed for ScoreTaker, Stater,
	// Previewer and Modeler.
	Components  map[string]any
	Connections map[string]any
	// Generation changes whenever the graph is replaced (a hot reload).
	Generation int
	// Reload is the state of hot reloads.
	Reload ReloadStatus
}

// ReloadStatus tells how the last pipeline reload went.
type ReloadStatus struct {
	// Count is how many reloads replaced the graph.
	Count int
	// Last is when the last reload was attempted; LastError is its error
	// ("" when it succeeded).
	Last      time.Time
	LastError string
}

// The optional interfaces a component or connection may implement for the
// dashboard. They use only standard types so that components need not
// import this package.
type (
	// ScoreTaker hands over per-sensor anomaly scores seen since the last
	// call: the largest score and how many alerts were raised. One sampler
	// calls it once a second.
	ScoreTaker interface {
		TakeScores(fn func(sensor string, maxScore float64, alerts int))
	}
	// Stater reports a connection's state ("connected", "reconnecting"...).
	Stater interface{ State() string }
	// Previewer gives the URL of a live preview (an MJPEG stream), or ""
	// when there is none yet.
	Previewer interface{ PreviewURL() string }
	// Modeler tells which model file a stage runs and its SHA-256, once
	// loaded (ok false before).
	Modeler interface {
		ModelVersion() (path, sha256 string, ok bool)
	}
)

func viewOf(t Target) View {
	if v, ok := t.(Viewer); ok {
		return v.View()
	}
	if p, ok := t.(*pipeline.Pipeline); ok {
		return View{Pipeline: p}
	}
	return View{}
}
