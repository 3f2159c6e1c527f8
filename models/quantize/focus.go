package quantize

import (
	"fmt"
	"slices"

	"github.com/edgeflow/edgeflow/models/graph"
	"github.com/edgeflow/edgeflow/models/onnxpb"
)

// FoldFocus rewrites every YOLO "Focus" stem (space-to-depth by eight
// strided Slices and a Concat, then a Conv) into one Conv of twice the
// kernel size with stride 2 on the image itself, the form YOLOv5 6.0
// adopted. The two compute the same sums over the same pixels (the
// weights are only rearranged: W'[o, c, 2u+di, 2v+dj] = W[o, blk(di,dj)·C
// + c, u, v]), and zero padding of the half-size grid is zero padding of
// the image, so the outputs agree to float rounding. Why: on the Intel
// Xeon of BENCHMARKS.md ("int8 detectors") ORT spends 13 % of YOLOX-Nano's
// fp32 run in those Slices and the Concat, which move 2 MB of float for
// nothing, and the 12-channel Conv after them cannot be fused with them.
// It returns how many stems it folded; a model without one is left as it
// is.
//
// In a quantised model the phases and the Concat's output may pass through
// QuantizeLinear -> DequantizeLinear pairs: when they all have the same
// per-tensor parameters (the quantiser gives the pixels of an unnormalised
// image scale 1), rounding commutes with slicing and concatenating, so the
// fold puts one such pair on the image and the result is the same model
// minus the data movement. Different parameters are left alone.
func FoldFocus(m *onnxpb.ModelProto) (int, error) {
	g := m.GetGraph()
	ix := graph.NewIndex(g)
	folded := 0
	for _, cat := range slices.Clone(g.GetNode()) {
		f, ok := matchFocus(ix, cat)
		if !ok {
			continue
		}
		if err := f.fold(ix); err != nil {
			return folded, fmt.Errorf("focus stem %q: %w", cat.GetName(), err)
		}
		folded++
		ix.Rebuild()
	}
	if folded > 0 {
		ix.RemoveUnused()
		if err := graph.TopoSort(g); err != nil {
			return folded, fmt.Errorf("after folding focus stems: %w", err)
		}
	}
	return folded, nil
}

// focus is one matched stem.
type focus struct {
	cat, conv *onnxpb.NodeProto
	image     string
	// order[k] is the (row, column) phase of the Concat's k-th input.
	order [4][2]int
	// gone are the nodes the fold removes: Slices, Concat, Q/DQ pairs.
	gone []*onnxpb.NodeProto
	// pair is one of the stem's Q -> DQ pairs (nil: none); key is their
	// common parameters.
	pair *onnxpb.NodeProto
	key  string
}

// skipPair follows tensor t back through a QuantizeLinear ->
// DequantizeLinear pair used only here, if there is one, and checks that
// its per-tensor parameters match the stem's other pairs.
func (f *focus) skipPair(ix *graph.Index, t string) (string, bool) {
	dq := ix.Producer(t)
	if dq == nil || dq.GetOpType() != "DequantizeLinear" {
		return t, true
	}
	if len(dq.GetInput()) == 0 {
		return "", false
	}
	q := ix.Producer(dq.GetInput()[0])
	if q == nil || q.GetOpType() != "QuantizeLinear" || len(q.GetInput()) == 0 || len(ix.Consumers(q.GetOutput()[0])) != 1 || len(ix.Consumers(t)) != 1 {
		return "", false
	}
	key, ok := pairKey(ix, q, dq)
	if !ok || (f.key != "" && key != f.key) {
		return "", false
	}
	f.key, f.pair = key, q
	f.gone = append(f.gone, q, dq)
	return q.GetInput()[0], true
}

// pairKey describes a Q -> DQ pair's parameters when both nodes use the
// same scalar scale and zero point.
func pairKey(ix *graph.Index, q, dq *onnxpb.NodeProto) (string, bool) {
	qi, di := q.GetInput(), dq.GetInput()
	if len(qi) != 3 || len(di) != 3 || qi[1] != di[1] || qi[2] != di[2] || graph.AttrInt(q, "axis", 1) != graph.AttrInt(dq, "axis", 1) {
		return "", false
	}
	s, z := ix.Initializer(qi[1]), ix.Initializer(qi[2])
	if s == nil || z == nil || graph.Elements(s.GetDims()) != 1 || graph.Elements(z.GetDims()) != 1 {
		return "", false
	}
	sv, err := graph.Floats(s)
	if err != nil {
		return "", false
	}
	return fmt.Sprintf("%v/%v/%x/%v", sv[0], graph.DataType(z), z.GetRawData(), z.GetInt32Data()), true
}

// matchFocus recognises Concat(axis 1) of the four phases
// x[:, :, di::2, dj::2] of one 4-D tensor, read only by one plain Conv
// (group 1, stride 1, dilation 1, explicit pads).
func matchFocus(ix *graph.Index, cat *onnxpb.NodeProto) (*focus, bool) {
	if cat.GetOpType() != "Concat" || cat.GetDomain() != "" || graph.AttrInt(cat, "axis", 0) != 1 || len(cat.GetInput()) != 4 || len(cat.GetOutput()) == 0 {
		return nil, false
	}
	f := &focus{cat: cat, gone: []*onnxpb.NodeProto{cat}}
	out := cat.GetOutput()[0]
	cons := ix.Consumers(out)
	if len(cons) != 1 || ix.IsGraphOutput(out) {
		return nil, false
	}
	if q := cons[0]; q.GetOpType() == "QuantizeLinear" && len(q.GetOutput()) > 0 {
		dqs := ix.Consumers(q.GetOutput()[0])
		if len(dqs) != 1 || dqs[0].GetOpType() != "DequantizeLinear" || len(dqs[0].GetOutput()) == 0 {
			return nil, false
		}
		if t, ok := f.skipPair(ix, dqs[0].GetOutput()[0]); !ok || t != out {
			return nil, false
		}
		out = dqs[0].GetOutput()[0]
		if cons = ix.Consumers(out); len(cons) != 1 || ix.IsGraphOutput(out) {
			return nil, false
		}
	}
	conv := cons[0]
	if conv.GetOpType() != "Conv" || conv.GetDomain() != "" || len(conv.GetInput()) < 2 || conv.GetInput()[0] != out || !plainConv(conv) {
		return nil, false
	}
	if w := ix.Initializer(conv.GetInput()[1]); w == nil || len(w.GetDims()) != 4 || graph.DataType(w) != onnxpb.TensorProto_FLOAT {
		return nil, false
	}
	f.conv = conv
	seen := map[[2]int]bool{}
	for k, in := range cat.GetInput() {
		phase := [2]int{-1, -1}
		t, ok := f.skipPair(ix, in)
		if !ok {
			return nil, false
		}
		// Two Slices, one per spatial axis, in either order.
		for range 2 {
			s := ix.Producer(t)
			if s == nil || s.GetOpType() != "Slice" || s.GetDomain() != "" || len(ix.Consumers(t)) != 1 || ix.IsGraphOutput(t) {
				return nil, false
			}
			axis, start, ok := phaseSlice(ix, s)
			if !ok || phase[axis-2] != -1 {
				return nil, false
			}
			phase[axis-2] = start
			f.gone = append(f.gone, s)
			t = s.GetInput()[0]
		}
		if f.image == "" {
			f.image = t
		} else if f.image != t {
			return nil, false
		}
		if seen[phase] {
			return nil, false
		}
		seen[phase] = true
		f.order[k] = phase
	}
	return f, true
}

// plainConv reports whether a Conv has stride 1, dilation 1 and explicit
// (or no) padding, so that its kernel can be doubled onto the full grid.
func plainConv(n *onnxpb.NodeProto) bool {
	if graph.AttrInt(n, "group", 1) != 1 {
		return false
	}
	if ap := graph.AttrString(n, "auto_pad", "NOTSET"); ap != "NOTSET" && ap != "VALID" {
		return false
	}
	for _, name := range []string{"strides", "dilations"} {
		for _, v := range graph.AttrInts(n, name) {
			if v != 1 {
				return false
			}
		}
	}
	return true
}

// phaseSlice decodes Slice(x, [start], [end ≥ 2^31], [axis 2 or 3], [2])
// into its axis and start (0 or 1).
func phaseSlice(ix *graph.Index, s *onnxpb.NodeProto) (axis, start int, ok bool) {
	in := s.GetInput()
	if len(in) != 5 {
		return 0, 0, false
	}
	var v [4]int64
	for i := range 4 {
		t := ix.Initializer(in[i+1])
		if t == nil {
			return 0, 0, false
		}
		x, err := graph.Int64s(t)
		if err != nil || len(x) != 1 {
			return 0, 0, false
		}
		v[i] = x[0]
	}
	st, end, ax, step := v[0], v[1], v[2], v[3]
	if (ax != 2 && ax != 3 && ax != -1 && ax != -2) || step != 2 || (st != 0 && st != 1) || end < 1<<31 {
		return 0, 0, false
	}
	if ax < 0 {
		ax += 4
	}
	return int(ax), int(st), true
}

// fold replaces the Slices, the Concat and the Conv with one Conv on the
// image. The image's height and width must be even (or unknown, when the
// Slices' ends run to the end either way: odd sizes would give phases of
// unequal size, which the Concat already refuses at run time).
func (f *focus) fold(ix *graph.Index) error {
	wt := ix.Initializer(f.conv.GetInput()[1])
	w, err := graph.Floats(wt)
	if err != nil {
		return err
	}
	d := wt.GetDims()
	outC, inC, kh, kw := int(d[0]), int(d[1]), int(d[2]), int(d[3])
	if inC%4 != 0 {
		return fmt.Errorf("conv takes %d channels, not 4 phases", inC)
	}
	c := inC / 4
	nw := make([]float32, outC*c*2*kh*2*kw)
	for o := range outC {
		for k, ph := range f.order {
			for ch := range c {
				for u := range kh {
					for v := range kw {
						src := ((o*inC+k*c+ch)*kh+u)*kw + v
						dst := ((o*c+ch)*2*kh+2*u+ph[0])*2*kw + 2*v + ph[1]
						nw[dst] = w[src]
					}
				}
			}
		}
	}
	pads := graph.AttrInts(f.conv, "pads")
	if pads == nil {
		pads = []int64{0, 0, 0, 0}
	}
	if len(pads) != 4 {
		return fmt.Errorf("pads %v", pads)
	}
	newPads := make([]int64, 4)
	for i, p := range pads {
		newPads[i] = 2 * p
	}
	name := ix.NewName(wt.GetName() + "_unfocused")
	ix.AddInitializer(graph.FloatTensor(name, []int64{int64(outC), int64(c), int64(2 * kh), int64(2 * kw)}, nw))
	f.conv.Input[0] = f.image
	if f.pair != nil {
		// The pixels were rounded on the way: round the image once.
		qi := f.pair.GetInput()
		q := graph.Node("QuantizeLinear", ix.NewName(f.image+"_focus_q"), []string{f.image, qi[1], qi[2]}, []string{ix.NewName(f.image + "_focus_q")})
		dq := graph.Node("DequantizeLinear", ix.NewName(f.image+"_focus_dq"), []string{q.GetOutput()[0], qi[1], qi[2]}, []string{ix.NewName(f.image + "_focus_dq")})
		ix.G.Node = append(ix.G.Node, q, dq)
		f.conv.Input[0] = dq.GetOutput()[0]
	}
	f.conv.Input[1] = name
	graph.RemoveAttr(f.conv, "auto_pad")
	graph.SetAttr(f.conv, graph.IntsAttr("kernel_shape", int64(2*kh), int64(2*kw)))
	graph.SetAttr(f.conv, graph.IntsAttr("strides", 2, 2))
	graph.SetAttr(f.conv, graph.IntsAttr("dilations", 1, 1))
	graph.SetAttr(f.conv, graph.IntsAttr("pads", newPads...))
	g := ix.G
	drop := map[*onnxpb.NodeProto]bool{}
	gone := map[string]bool{}
	for _, n := range f.gone {
		drop[n] = true
		for _, o := range n.GetOutput() {
			gone[o] = true
		}
	}
	g.Node = slices.DeleteFunc(g.Node, func(n *onnxpb.NodeProto) bool { return drop[n] })
	g.ValueInfo = slices.DeleteFunc(g.ValueInfo, func(vi *onnxpb.ValueInfoProto) bool { return gone[vi.GetName()] })
	return nil
}
