// Package eval runs the anomaly detector's offline jobs on recorded
// series: NAB evaluation (NAB, for edgeflow eval nab; anomaly/replay
// scores a pipeline instead), training from CSV files (Train, for edgeflow
// model train anomaly), and, for models/compare, series cut into model
// inputs (LoadSeries) and the agreement of two autoencoders' anomaly
// scores (Reconstruction).
package eval
