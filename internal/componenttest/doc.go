// Package componenttest holds what the tests of the built-in components
// share: building a component from its YAML options as the pipeline loader
// would (Build, MustBuild), a sink that keeps what it is given (Collector),
// a source that records how each of its messages settles (TrackingSource),
// running a source through a chain of stages (RunChain), polling for a
// condition (WaitFor), and the conformance suites that every source and
// sink runs (TestSource, TestSink).
//
// It is imported only from _test.go files.
//
// # Conformance suites
//
// TestSource and TestSink are tables of tests run against any source or
// sink, after Watermill's pubsub/tests: the component's package describes
// how to drive it (a harness) and what it guarantees (features), and the
// suite checks those guarantees against real brokers, files or streams.
// A test that a feature rules out is skipped and says why.
//
// Sources are run in a real pipeline into a Gate, a sink that can hold
// delivery back. The suite checks that every published message arrives;
// that a source that acknowledges (SourceFeatures.Acknowledges) does so
// only once the sink has delivered (seen at the broker through
// SourceHarness.Unacked where it can say, and by a new consumer getting
// the held messages again after the first one stopped without delivering
// them); that a failed delivery (nack) brings the message back; and that a
// stop drains: what the source emitted is delivered, the rest is left for
// the next consumer. Sinks are checked to return from Write only once the
// destination has the message, to return an error (in time) when the
// destination fails, to take concurrent writes, and to let writes in
// flight finish or fail when closed.
//
// # Adding a component
//
// A new source or sink adds a conformance_test.go to its package with one
// test that calls the suite with a harness constructor. The constructor
// runs once per test of the suite, so each gets a broker of its own
// (internal/brokertest). Payload, SeqOf and SeqOfPayload are the message
// format: {"seq":N}. For a source:
//
//	func TestConformance(t *testing.T) {
//		componenttest.TestSource(t, func(t *testing.T) componenttest.SourceHarness {
//			b := brokertest.StartMosquitto(t, brokertest.MosquittoConfig{})
//			return componenttest.SourceHarness{
//				Features: componenttest.SourceFeatures{Acknowledges: true, Resumes: true, Ordered: true},
//				Publish:  func(t *testing.T, seqs ...int) { /* publish componenttest.Payload(seq) */ },
//				New: func(t *testing.T) (pipeline.Source, func()) {
//					// build the connection and the source (MustBuild with
//					// WithConnections), start the connection
//					return src, func() { conn.Close(context.Background()) }
//				},
//			}
//		})
//	}
//
// and for a sink, TestSink with a SinkHarness whose New returns the sink
// and its close function, Received reads back what the destination got,
// and Break makes the destination fail. What Publish publishes before the
// first New must still reach the source: have the broker keep it (subscribe
// the MQTT session once, create the JetStream stream), or declare the
// source Live. Keep the harness's timeouts and
// redelivery delays short (a second or two): the suite waits for them, and
// a component that breaks a guarantee fails only once they have run out.
// sources/mqtt, sources/nats and sinks/nats are complete examples.
package componenttest
