//go:build gocv && matprofile

package frame

import "testing"

// TestLiveMatsFollowThePool: frames out of a pool hold a Mat each; those the
// pool keeps stay live until the pool closes, the rest close at release.
func TestLiveMatsFollowThePool(t *testing.T) {
	base, ok := LiveMats()
	if !ok {
		t.Fatal("LiveMats cannot count in a matprofile build")
	}
	live := func(want int, when string) {
		t.Helper()
		if n, _ := LiveMats(); n != base+want {
			t.Errorf("%s: %d live Mats, want %d", when, n-base, want)
		}
	}
	p := NewPool(1)
	a, b, c := p.Get(), p.Get(), p.Get()
	live(3, "three frames out")
	a.Release()
	b.Release()
	c.Release()
	live(1, "released into a pool of one")
	p.Close()
	live(0, "pool closed")
}
