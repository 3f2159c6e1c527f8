package brokertest

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// NATSCluster is a JetStream cluster of nats-server child processes on
// loopback, routed to each other, each with its own data directory.
type NATSCluster struct {
	Nodes []*NATS
}

// StartNATSCluster starts an n-node JetStream cluster (cfg.JetStream is
// implied). Each node can be killed and started again like a single
// server. Streams need a moment after start-up for the cluster to elect
// its meta leader: retry their creation.
func StartNATSCluster(t testing.TB, n int, cfg NATSConfig) *NATSCluster {
	t.Helper()
	routes := make([]int, n)
	for i := range routes {
		p, err := freePort()
		if err != nil {
			t.Fatalf("brokertest: %v", err)
		}
		routes[i] = p
	}
	urls := make([]string, n)
	for i, p := range routes {
		urls[i] = "nats://127.0.0.1:" + strconv.Itoa(p)
	}
	c := &NATSCluster{}
	for i := range n {
		node := cfg
		node.JetStream = true
		others := make([]string, 0, n-1)
		for j, u := range urls {
			if j != i {
				others = append(others, u)
			}
		}
		node.Args = append([]string{
			"--cluster_name", "brokertest", "--cluster", urls[i], "--routes", strings.Join(others, ","),
		}, cfg.Args...)
		srv := StartNATS(t, node)
		// StartNATS names the server after its client port; cluster
		// names must be unique, which they are.
		c.Nodes = append(c.Nodes, srv)
	}
	return c
}

// URL lists every node, comma-separated, for nats.go and edgeflow.
func (c *NATSCluster) URL() string {
	urls := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		urls[i] = n.URL()
	}
	return strings.Join(urls, ",")
}

// Logs returns every node's log, for failure messages.
func (c *NATSCluster) Logs() string {
	var b strings.Builder
	for i, n := range c.Nodes {
		fmt.Fprintf(&b, "--- node %d (%s, %s)\n%s\n", i, n.URL(), filepath.Base(n.Dir()), n.Log())
	}
	return b.String()
}
