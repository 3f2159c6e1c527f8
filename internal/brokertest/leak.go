package brokertest

import "go.uber.org/goleak"

// IgnorePahoDisconnect is a goleak option for packages whose tests close
// MQTT clients. paho's Disconnect returns after its quiesce time while the
// goroutine that sends DISCONNECT may still be finishing (paho documents
// this); under load it can outlive the test by a moment. Every other
// goroutine is still checked.
var IgnorePahoDisconnect = goleak.IgnoreTopFunction("github.com/eclipse/paho%2emqtt%2egolang.(*client).Disconnect.func1")
