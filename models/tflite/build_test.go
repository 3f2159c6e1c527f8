package tflite

import (
	"encoding/binary"
	"math"

	flatbuffers "github.com/google/flatbuffers/go"

	"github.com/edgeflow/edgeflow/models/tflite/schema"
)

// A tiny TFLite writer for tests, on the generated builders.

type tTensor struct {
	name  string
	shape []int32
	typ   schema.TensorType
	data  []byte // nil: an activation
}

type tOp struct {
	code    schema.BuiltinOperator
	custom  string
	in, out []int32
	// opts builds the options table; it returns its type and offset.
	opts func(*flatbuffers.Builder) (schema.BuiltinOptions, flatbuffers.UOffsetT)
}

type tModel struct {
	tensors []tTensor
	ops     []tOp
	in, out []int32
}

func f32bytes(v ...float32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}

func i32bytes(v ...int32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], uint32(x))
	}
	return b
}

func (m tModel) bytes() []byte {
	b := flatbuffers.NewBuilder(1024)
	ints := func(v []int32) flatbuffers.UOffsetT {
		b.StartVector(4, len(v), 4)
		for i := len(v) - 1; i >= 0; i-- {
			b.PrependInt32(v[i])
		}
		return b.EndVector(len(v))
	}
	tables := func(v []flatbuffers.UOffsetT) flatbuffers.UOffsetT {
		b.StartVector(4, len(v), 4)
		for i := len(v) - 1; i >= 0; i-- {
			b.PrependUOffsetT(v[i])
		}
		return b.EndVector(len(v))
	}
	// Buffer 0 is the empty sentinel.
	bufs := []flatbuffers.UOffsetT{}
	schema.BufferStart(b)
	bufs = append(bufs, schema.BufferEnd(b))
	var tensors []flatbuffers.UOffsetT
	for _, t := range m.tensors {
		buf := uint32(0)
		if t.data != nil {
			d := b.CreateByteVector(t.data)
			schema.BufferStart(b)
			schema.BufferAddData(b, d)
			bufs = append(bufs, schema.BufferEnd(b))
			buf = uint32(len(bufs) - 1)
		}
		name := b.CreateString(t.name)
		shape := ints(t.shape)
		schema.TensorStart(b)
		schema.TensorAddShape(b, shape)
		schema.TensorAddType(b, t.typ)
		schema.TensorAddBuffer(b, buf)
		schema.TensorAddName(b, name)
		tensors = append(tensors, schema.TensorEnd(b))
	}
	codeIdx := map[string]uint32{}
	var codes []flatbuffers.UOffsetT
	var ops []flatbuffers.UOffsetT
	for _, o := range m.ops {
		key := o.code.String() + o.custom
		ci, ok := codeIdx[key]
		if !ok {
			var cc flatbuffers.UOffsetT
			if o.custom != "" {
				cc = b.CreateString(o.custom)
			}
			schema.OperatorCodeStart(b)
			schema.OperatorCodeAddDeprecatedBuiltinCode(b, int8(min(o.code, 127)))
			schema.OperatorCodeAddBuiltinCode(b, o.code)
			if o.custom != "" {
				schema.OperatorCodeAddCustomCode(b, cc)
			}
			codes = append(codes, schema.OperatorCodeEnd(b))
			ci = uint32(len(codes) - 1)
			codeIdx[key] = ci
		}
		var ot schema.BuiltinOptions
		var oo flatbuffers.UOffsetT
		if o.opts != nil {
			ot, oo = o.opts(b)
		}
		in, out := ints(o.in), ints(o.out)
		schema.OperatorStart(b)
		schema.OperatorAddOpcodeIndex(b, ci)
		schema.OperatorAddInputs(b, in)
		schema.OperatorAddOutputs(b, out)
		if o.opts != nil {
			schema.OperatorAddBuiltinOptionsType(b, ot)
			schema.OperatorAddBuiltinOptions(b, oo)
		}
		ops = append(ops, schema.OperatorEnd(b))
	}
	tv, ov := tables(tensors), tables(ops)
	iv, outv := ints(m.in), ints(m.out)
	schema.SubGraphStart(b)
	schema.SubGraphAddTensors(b, tv)
	schema.SubGraphAddInputs(b, iv)
	schema.SubGraphAddOutputs(b, outv)
	schema.SubGraphAddOperators(b, ov)
	sg := schema.SubGraphEnd(b)
	sgv, cv, bv := tables([]flatbuffers.UOffsetT{sg}), tables(codes), tables(bufs)
	schema.ModelStart(b)
	schema.ModelAddVersion(b, 3)
	schema.ModelAddOperatorCodes(b, cv)
	schema.ModelAddSubgraphs(b, sgv)
	schema.ModelAddBuffers(b, bv)
	b.FinishWithFileIdentifier(schema.ModelEnd(b), []byte("TFL3"))
	return b.FinishedBytes()
}

func convOpts(pad schema.Padding, stride int32, act schema.ActivationFunctionType) func(*flatbuffers.Builder) (schema.BuiltinOptions, flatbuffers.UOffsetT) {
	return func(b *flatbuffers.Builder) (schema.BuiltinOptions, flatbuffers.UOffsetT) {
		schema.Conv2DOptionsStart(b)
		schema.Conv2DOptionsAddPadding(b, pad)
		schema.Conv2DOptionsAddStrideW(b, stride)
		schema.Conv2DOptionsAddStrideH(b, stride)
		schema.Conv2DOptionsAddFusedActivationFunction(b, act)
		return schema.BuiltinOptionsConv2DOptions, schema.Conv2DOptionsEnd(b)
	}
}

func dwOpts(pad schema.Padding, stride int32) func(*flatbuffers.Builder) (schema.BuiltinOptions, flatbuffers.UOffsetT) {
	return func(b *flatbuffers.Builder) (schema.BuiltinOptions, flatbuffers.UOffsetT) {
		schema.DepthwiseConv2DOptionsStart(b)
		schema.DepthwiseConv2DOptionsAddPadding(b, pad)
		schema.DepthwiseConv2DOptionsAddStrideW(b, stride)
		schema.DepthwiseConv2DOptionsAddStrideH(b, stride)
		schema.DepthwiseConv2DOptionsAddDepthMultiplier(b, 1)
		return schema.BuiltinOptionsDepthwiseConv2DOptions, schema.DepthwiseConv2DOptionsEnd(b)
	}
}

func concatOpts(axis int32) func(*flatbuffers.Builder) (schema.BuiltinOptions, flatbuffers.UOffsetT) {
	return func(b *flatbuffers.Builder) (schema.BuiltinOptions, flatbuffers.UOffsetT) {
		schema.ConcatenationOptionsStart(b)
		schema.ConcatenationOptionsAddAxis(b, axis)
		return schema.BuiltinOptionsConcatenationOptions, schema.ConcatenationOptionsEnd(b)
	}
}

func d2sOpts(block int32) func(*flatbuffers.Builder) (schema.BuiltinOptions, flatbuffers.UOffsetT) {
	return func(b *flatbuffers.Builder) (schema.BuiltinOptions, flatbuffers.UOffsetT) {
		schema.DepthToSpaceOptionsStart(b)
		schema.DepthToSpaceOptionsAddBlockSize(b, block)
		return schema.BuiltinOptionsDepthToSpaceOptions, schema.DepthToSpaceOptionsEnd(b)
	}
}

func resizeOpts(halfPixel bool) func(*flatbuffers.Builder) (schema.BuiltinOptions, flatbuffers.UOffsetT) {
	return func(b *flatbuffers.Builder) (schema.BuiltinOptions, flatbuffers.UOffsetT) {
		schema.ResizeBilinearOptionsStart(b)
		schema.ResizeBilinearOptionsAddHalfPixelCenters(b, halfPixel)
		return schema.BuiltinOptionsResizeBilinearOptions, schema.ResizeBilinearOptionsEnd(b)
	}
}

func poolOpts(pad schema.Padding, k, stride int32) func(*flatbuffers.Builder) (schema.BuiltinOptions, flatbuffers.UOffsetT) {
	return func(b *flatbuffers.Builder) (schema.BuiltinOptions, flatbuffers.UOffsetT) {
		schema.Pool2DOptionsStart(b)
		schema.Pool2DOptionsAddPadding(b, pad)
		schema.Pool2DOptionsAddStrideW(b, stride)
		schema.Pool2DOptionsAddStrideH(b, stride)
		schema.Pool2DOptionsAddFilterWidth(b, k)
		schema.Pool2DOptionsAddFilterHeight(b, k)
		return schema.BuiltinOptionsPool2DOptions, schema.Pool2DOptionsEnd(b)
	}
}

func fcOpts(act schema.ActivationFunctionType) func(*flatbuffers.Builder) (schema.BuiltinOptions, flatbuffers.UOffsetT) {
	return func(b *flatbuffers.Builder) (schema.BuiltinOptions, flatbuffers.UOffsetT) {
		schema.FullyConnectedOptionsStart(b)
		schema.FullyConnectedOptionsAddFusedActivationFunction(b, act)
		return schema.BuiltinOptionsFullyConnectedOptions, schema.FullyConnectedOptionsEnd(b)
	}
}

func meanOpts(keep bool) func(*flatbuffers.Builder) (schema.BuiltinOptions, flatbuffers.UOffsetT) {
	return func(b *flatbuffers.Builder) (schema.BuiltinOptions, flatbuffers.UOffsetT) {
		schema.ReducerOptionsStart(b)
		schema.ReducerOptionsAddKeepDims(b, keep)
		return schema.BuiltinOptionsReducerOptions, schema.ReducerOptionsEnd(b)
	}
}

func softmaxOpts() func(*flatbuffers.Builder) (schema.BuiltinOptions, flatbuffers.UOffsetT) {
	return func(b *flatbuffers.Builder) (schema.BuiltinOptions, flatbuffers.UOffsetT) {
		schema.SoftmaxOptionsStart(b)
		schema.SoftmaxOptionsAddBeta(b, 1)
		return schema.BuiltinOptionsSoftmaxOptions, schema.SoftmaxOptionsEnd(b)
	}
}
