package mqtt

import (
	"maps"
	"reflect"
	"testing"
)

// Every kind of delivery gets its own metadata, the same map each time.
func TestDeliveryMeta(t *testing.T) {
	cases := []struct {
		qos      byte
		ret, dup bool
		want     map[string]string
	}{
		{0, false, false, map[string]string{"mqtt_qos": "0"}},
		{1, true, false, map[string]string{"mqtt_qos": "1", "mqtt_retained": "true"}},
		{2, false, true, map[string]string{"mqtt_qos": "2", "mqtt_duplicate": "true"}},
		{1, true, true, map[string]string{"mqtt_qos": "1", "mqtt_retained": "true", "mqtt_duplicate": "true"}},
		{3, false, false, map[string]string{"mqtt_qos": "3"}},
	}
	for _, c := range cases {
		got := deliveryMeta(c.qos, c.ret, c.dup)
		if !maps.Equal(got, c.want) {
			t.Errorf("deliveryMeta(%d, %v, %v) = %v, want %v", c.qos, c.ret, c.dup, got, c.want)
		}
	}
	a, b := deliveryMeta(0, false, false), deliveryMeta(0, false, false)
	if reflect.ValueOf(a).UnsafePointer() != reflect.ValueOf(b).UnsafePointer() {
		t.Error("two QoS 0 deliveries got different maps, want the shared one")
	}
}
