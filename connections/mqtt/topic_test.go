package mqtt

import "testing"

func TestTopicMatches(t *testing.T) {
	for _, c := range []struct {
		f, t string
		want bool
	}{
		{"a/b", "a/b", true}, {"a/+", "a/b", true}, {"a/+", "a/b/c", false},
		{"a/#", "a", true}, {"a/#", "a/b/c", true}, {"#", "a/b", true},
		{"+/+", "a/b", true}, {"+", "a/b", false}, {"a/+/c", "a/x/c", true},
		{"a/b", "a/c", false}, {"#", "$SYS/x", false}, {"+/x", "$SYS/x", false},
		{"$SYS/#", "$SYS/x", true}, {"a//b", "a//b", true}, {"a/+/b", "a//b", true},
	} {
		if got := topicMatches(c.f, c.t); got != c.want {
			t.Errorf("topicMatches(%q, %q) = %v, want %v", c.f, c.t, got, c.want)
		}
	}
	if f, ok := sharedFilter("$share/g/a/+"); !ok || f != "a/+" {
		t.Errorf("sharedFilter = %q %v", f, ok)
	}
	for _, bad := range []string{"", "a/#/b", "a+/b", "$share/g"} {
		if validFilter(bad) == nil {
			t.Errorf("validFilter(%q) accepted", bad)
		}
	}
}
