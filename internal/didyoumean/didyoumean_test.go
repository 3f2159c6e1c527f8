package didyoumean

import "testing"

func TestSuggest(t *testing.T) {
	cases := []struct {
		name  string
		cands []string
		want  string
	}{
		{"sensrs", []string{"sensors", "window"}, ` (did you mean "sensors"?)`},
		{"xyz", []string{"sensors", "window"}, ""},
		{"window", nil, ""},
	}
	for _, c := range cases {
		if got := Suggest(c.name, c.cands); got != c.want {
			t.Errorf("Suggest(%q) = %q, want %q", c.name, got, c.want)
		}
	}
	if d := Distance("kitten", "sitting"); d != 3 {
		t.Errorf("Distance = %d, want 3", d)
	}
}
