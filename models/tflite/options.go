package tflite

import (
	flatbuffers "github.com/google/flatbuffers/go"

	"github.com/edgeflow/edgeflow/models/tflite/schema"
)

// readOptions decodes an operator's builtin options union into Options.
func readOptions(fo *schema.Operator, l limit) Options {
	o := Options{StrideW: 1, StrideH: 1, DilationW: 1, DilationH: 1, optionsType: fo.BuiltinOptionsType()}
	var tab flatbuffers.Table
	if o.optionsType == schema.BuiltinOptionsNONE || !fo.BuiltinOptions(&tab) {
		return o
	}
	switch o.optionsType {
	case schema.BuiltinOptionsConv2DOptions:
		var c schema.Conv2DOptions
		c.Init(tab.Bytes, tab.Pos)
		o.Padding, o.StrideW, o.StrideH = c.Padding(), int(c.StrideW()), int(c.StrideH())
		o.DilationW, o.DilationH = int(c.DilationWFactor()), int(c.DilationHFactor())
		o.Activation = c.FusedActivationFunction()
	case schema.BuiltinOptionsDepthwiseConv2DOptions:
		var c schema.DepthwiseConv2DOptions
		c.Init(tab.Bytes, tab.Pos)
		o.Padding, o.StrideW, o.StrideH = c.Padding(), int(c.StrideW()), int(c.StrideH())
		o.DilationW, o.DilationH = int(c.DilationWFactor()), int(c.DilationHFactor())
		o.DepthMultiplier = int(c.DepthMultiplier())
		o.Activation = c.FusedActivationFunction()
	case schema.BuiltinOptionsPool2DOptions:
		var c schema.Pool2DOptions
		c.Init(tab.Bytes, tab.Pos)
		o.Padding, o.StrideW, o.StrideH = c.Padding(), int(c.StrideW()), int(c.StrideH())
		o.FilterW, o.FilterH = int(c.FilterWidth()), int(c.FilterHeight())
		o.Activation = c.FusedActivationFunction()
	case schema.BuiltinOptionsFullyConnectedOptions:
		var c schema.FullyConnectedOptions
		c.Init(tab.Bytes, tab.Pos)
		o.Activation, o.KeepDims = c.FusedActivationFunction(), c.KeepNumDims()
		o.shuffledWeights = c.WeightsFormat() != schema.FullyConnectedOptionsWeightsFormatDEFAULT
	case schema.BuiltinOptionsReducerOptions:
		var c schema.ReducerOptions
		c.Init(tab.Bytes, tab.Pos)
		o.KeepDims = c.KeepDims()
	case schema.BuiltinOptionsSoftmaxOptions:
		var c schema.SoftmaxOptions
		c.Init(tab.Bytes, tab.Pos)
		o.Beta = c.Beta()
	case schema.BuiltinOptionsConcatenationOptions:
		var c schema.ConcatenationOptions
		c.Init(tab.Bytes, tab.Pos)
		o.Axis, o.Activation = int(c.Axis()), c.FusedActivationFunction()
	case schema.BuiltinOptionsAddOptions:
		var c schema.AddOptions
		c.Init(tab.Bytes, tab.Pos)
		o.Activation = c.FusedActivationFunction()
	case schema.BuiltinOptionsMulOptions:
		var c schema.MulOptions
		c.Init(tab.Bytes, tab.Pos)
		o.Activation = c.FusedActivationFunction()
	case schema.BuiltinOptionsSubOptions:
		var c schema.SubOptions
		c.Init(tab.Bytes, tab.Pos)
		o.Activation = c.FusedActivationFunction()
	case schema.BuiltinOptionsDivOptions:
		var c schema.DivOptions
		c.Init(tab.Bytes, tab.Pos)
		o.Activation = c.FusedActivationFunction()
	case schema.BuiltinOptionsReshapeOptions:
		var c schema.ReshapeOptions
		c.Init(tab.Bytes, tab.Pos)
		o.NewShape, o.hasNewShape = l.ints(c.NewShapeLength(), c.NewShape), c.NewShapeLength() > 0
	case schema.BuiltinOptionsResizeBilinearOptions:
		var c schema.ResizeBilinearOptions
		c.Init(tab.Bytes, tab.Pos)
		o.AlignCorners, o.HalfPixelCenters = c.AlignCorners(), c.HalfPixelCenters()
	case schema.BuiltinOptionsLeakyReluOptions:
		var c schema.LeakyReluOptions
		c.Init(tab.Bytes, tab.Pos)
		o.Alpha = c.Alpha()
	case schema.BuiltinOptionsDepthToSpaceOptions:
		var c schema.DepthToSpaceOptions
		c.Init(tab.Bytes, tab.Pos)
		o.BlockSize = int(c.BlockSize())
	case schema.BuiltinOptionsPadOptions, schema.BuiltinOptionsDequantizeOptions, schema.BuiltinOptionsDensifyOptions,
		schema.BuiltinOptionsMaximumMinimumOptions:
	default:
		o.unknownOptionsType = true
	}
	return o
}
