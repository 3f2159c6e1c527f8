package annotate

import (
	"strings"
	"testing"
)

func TestCheckListen(t *testing.T) {
	for _, tc := range []struct {
		addr   string
		remote bool
		bad    string
	}{
		{"127.0.0.1:8090", false, ""},
		{"[::1]:0", false, ""},
		{"localhost:8090", false, ""},
		{"0.0.0.0:8090", false, "not a loopback"},
		{"10.0.0.7:8090", false, "not a loopback"},
		{":8090", false, "not a loopback"},
		{"0.0.0.0:8090", true, ""},
		{"8090", false, "host:port"},
	} {
		err := checkListen(tc.addr, tc.remote)
		switch {
		case tc.bad == "" && err != nil:
			t.Errorf("%s: %v", tc.addr, err)
		case tc.bad != "" && (err == nil || !strings.Contains(err.Error(), tc.bad)):
			t.Errorf("%s: err = %v, want %q", tc.addr, err, tc.bad)
		}
	}
}
