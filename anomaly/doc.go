// Package anomaly is edgeflow's anomaly-detection core: a compact
// autoencoder over normalised sensor windows, trained in Go and exported as
// ONNX; per-sensor normalisation learned from a warm-up period; and the
// scoring that turns reconstruction error into a calibrated anomaly
// likelihood and debounced alerts.
//
// The pieces are independent so that the same code serves the `anomaly`
// stage, `edgeflow model train anomaly` and `edgeflow eval nab`:
//
//	window --Normalizer--> normalised window --model (ORT)--> reconstruction
//	       --Error--> error --Likelihood--> likelihood --Alerter--> alert
package anomaly
