package quantize

// SetBiasLocal is for experiments.
func SetBiasLocal(o *Options, v bool) { o.biasLocal = v }

func SetBiasLast(o *Options, v bool) { o.biasLast = v }
