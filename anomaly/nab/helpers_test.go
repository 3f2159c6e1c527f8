package nab

import "github.com/edgeflow/edgeflow/anomaly"

// trainFast keeps test training short.
var trainFast = anomaly.TrainConfig{Epochs: 30, Seed: 1}
