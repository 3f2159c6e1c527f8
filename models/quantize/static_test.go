package quantize_test

import (
	"testing"

	"github.com/edgeflow/edgeflow/models/modeltest"
	"github.com/edgeflow/edgeflow/models/quantize"
)

func TestStaticMLPFuses(t *testing.T) {
	modeltest.RequireRuntime(t)
	m := sensorMLP(64, 128, 64, 1)
	q, rep, err := quantize.Static(m, quantize.FromVectors(sensorData(64, 64, 2)), quantize.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(rep)
	ops := optimizedOps(t, q)
	t.Log(ops)
}

func TestDynamicAndWeightOnlyMLP(t *testing.T) {
	modeltest.RequireRuntime(t)
	m := sensorMLP(64, 128, 64, 1)
	d, rep, err := quantize.Dynamic(m, quantize.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(rep, optimizedOps(t, d))
	w, rep, err := quantize.WeightOnly(m, quantize.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(rep, optimizedOps(t, w))
}
