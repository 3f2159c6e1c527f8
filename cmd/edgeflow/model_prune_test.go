package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgeflow/edgeflow/models/modeltest"
	"github.com/edgeflow/edgeflow/models/prune"
)

func TestModelPrune(t *testing.T) {
	modeltest.RequireRuntime(t)
	dir := t.TempDir()
	mlp := &modeltest.MLP{In: 8, Hidden: 32, Out: 2, Seed: 1}
	in := mlp.Write(t, dir, "mlp.onnx")
	out := filepath.Join(dir, "pruned.onnx")

	r := edgeflow(t, nil, "model", "prune", in, out, "--structured", "--amount", "0.5", "--json")
	var rep prune.Report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || r.code != 0 {
		t.Fatalf("exit %d, %v: %s %s", r.code, err, r.stdout, r.stderr)
	}
	if len(rep.Layers) != 1 || rep.Layers[0].ChannelsAfter != 16 || rep.ParamsAfter != 16*8+16+16*2+2 {
		t.Fatalf("report %+v", rep)
	}
	r = edgeflow(t, nil, "model", "inspect", out)
	if r.code != 0 || !strings.Contains(r.stdout, "[N,2]") {
		t.Fatalf("inspect pruned: exit %d: %s %s", r.code, r.stdout, r.stderr)
	}

	r = edgeflow(t, nil, "model", "prune", in, out, "--amount", "0.25")
	if r.code != 0 || !strings.Contains(r.stdout, "unstructured 25%") || !strings.Contains(r.stdout, "25.0%") {
		t.Fatalf("unstructured: exit %d: %s %s", r.code, r.stdout, r.stderr)
	}
	if r := edgeflow(t, nil, "model", "prune", in, out, "--amount", "1.5"); r.code == 0 || !strings.Contains(r.stderr, "amount") {
		t.Fatalf("--amount 1.5: exit %d: %s", r.code, r.stderr)
	}
}
