package graph

import (
	"github.com/edgeflow/edgeflow/models/onnxpb"
	"google.golang.org/protobuf/proto"
)

// Attr returns the node's attribute called name, or nil.
func Attr(n *onnxpb.NodeProto, name string) *onnxpb.AttributeProto {
	for _, a := range n.GetAttribute() {
		if a.GetName() == name {
			return a
		}
	}
	return nil
}

// AttrInt returns an int attribute, or def when the node lacks it.
func AttrInt(n *onnxpb.NodeProto, name string, def int64) int64 {
	if a := Attr(n, name); a != nil {
		return a.GetI()
	}
	return def
}

// AttrFloat returns a float attribute, or def when the node lacks it.
func AttrFloat(n *onnxpb.NodeProto, name string, def float32) float32 {
	if a := Attr(n, name); a != nil {
		return a.GetF()
	}
	return def
}

// AttrInts returns an ints attribute, or nil.
func AttrInts(n *onnxpb.NodeProto, name string) []int64 {
	if a := Attr(n, name); a != nil {
		return a.GetInts()
	}
	return nil
}

// AttrString returns a string attribute, or def.
func AttrString(n *onnxpb.NodeProto, name, def string) string {
	if a := Attr(n, name); a != nil {
		return string(a.GetS())
	}
	return def
}

// SetAttr replaces the node's attribute of the same name, or adds it.
func SetAttr(n *onnxpb.NodeProto, a *onnxpb.AttributeProto) {
	for i, old := range n.Attribute {
		if old.GetName() == a.GetName() {
			n.Attribute[i] = a
			return
		}
	}
	n.Attribute = append(n.Attribute, a)
}

// RemoveAttr deletes the node's attribute called name, if any.
func RemoveAttr(n *onnxpb.NodeProto, name string) {
	kept := n.Attribute[:0]
	for _, a := range n.Attribute {
		if a.GetName() != name {
			kept = append(kept, a)
		}
	}
	n.Attribute = kept
}

// IntAttr makes an int attribute.
func IntAttr(name string, v int64) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_INT.Enum(), I: proto.Int64(v)}
}

// IntsAttr makes an ints attribute.
func IntsAttr(name string, v ...int64) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_INTS.Enum(), Ints: v}
}

// FloatAttr makes a float attribute.
func FloatAttr(name string, v float32) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_FLOAT.Enum(), F: proto.Float32(v)}
}

// StringAttr makes a string attribute.
func StringAttr(name, v string) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_STRING.Enum(), S: []byte(v)}
}

// Node makes a node of the default domain.
func Node(op, name string, inputs, outputs []string, attrs ...*onnxpb.AttributeProto) *onnxpb.NodeProto {
	return &onnxpb.NodeProto{OpType: proto.String(op), Name: proto.String(name), Input: inputs, Output: outputs, Attribute: attrs}
}
