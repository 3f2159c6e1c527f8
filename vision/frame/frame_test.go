//go:build gocv

package frame

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"gocv.io/x/gocv"
)

func TestPoolRecyclesAndCloses(t *testing.T) {
	p := NewPool(1)
	a := p.Get()
	a.Mat.Close()
	a.Mat = gocv.NewMatWithSize(4, 6, gocv.MatTypeCV8UC3)
	a.Camera, a.ID = "cam", 7
	a.Retain() // a second holder, as a fan-out branch that keeps it
	a.Release()
	if len(p.free) != 0 {
		t.Fatal("a frame still held went back to the pool")
	}
	a.Release()
	if b := p.Get(); b != a || b.Width() != 6 || b.Camera != "" {
		t.Fatalf("pool did not hand back the released frame with its buffer (got %p, want %p)", b, a)
	} else {
		c := p.Get() // pool empty: a new frame
		b.Release()
		c.Release() // pool full (max 1): closed
		if len(p.free) != 1 {
			t.Fatalf("pool keeps %d idle frames, want 1", len(p.free))
		}
	}
	p.Close()
	d := NewPool(4)
	e := d.Get()
	d.Close()
	e.Release() // after Close: closed, not kept
	if len(d.free) != 0 {
		t.Fatal("a closed pool kept a frame")
	}
	defer func() {
		if recover() == nil {
			t.Fatal("double release did not panic")
		}
	}()
	e.Release()
}

func TestFrameJSONAndFrom(t *testing.T) {
	f := New(gocv.NewMatWithSize(2, 3, gocv.MatTypeCV8UC3), "door", 5, time.Unix(1, 0).UTC())
	defer f.Release()
	raw, err := json.Marshal(map[string]any{"frame": f})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), `"camera":"door","id":5`) || !strings.Contains(string(raw), `"width":3,"height":2`) {
		t.Fatalf("frame JSON %s", raw)
	}
	if _, err := From(f); err != nil {
		t.Fatal(err)
	}
	if _, err := From("x"); err == nil {
		t.Fatal("a string was taken for a frame")
	}
}

func TestOnReleaseRunsOnceAtLastRelease(t *testing.T) {
	p := NewPool(1)
	defer p.Close()
	f := p.Get()
	runs := 0
	f.OnRelease(func() { runs++ })
	f.OnRelease(func() { runs += 10 })
	f.Retain()
	f.Release()
	if runs != 0 {
		t.Fatal("OnRelease ran while a reference was held")
	}
	f.Release()
	if runs != 11 {
		t.Fatalf("runs = %d, want both functions once", runs)
	}
	g := p.Get() // the same frame, recycled: its functions are gone
	if g != f {
		t.Fatal("pool did not recycle the frame")
	}
	g.Release()
	if runs != 11 {
		t.Fatalf("a recycled frame ran its previous holder's functions (runs = %d)", runs)
	}
}
