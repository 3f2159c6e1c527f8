package graph

import (
	"github.com/edgeflow/edgeflow/models/onnxpb"
	"google.golang.org/protobuf/proto"
)

// Opset returns the version of domain ("" or "ai.onnx" for the default
// domain) that the model imports, or 0 when it does not import it.
func Opset(m *onnxpb.ModelProto, domain string) int64 {
	for _, o := range m.GetOpsetImport() {
		if sameDomain(o.GetDomain(), domain) {
			return o.GetVersion()
		}
	}
	return 0
}

// SetOpset sets (or adds) the imported version of domain. Raising the
// default domain also raises the IR version when the new opset needs a
// newer one (see MinIRVersion).
func SetOpset(m *onnxpb.ModelProto, domain string, version int64) {
	found := false
	for _, o := range m.GetOpsetImport() {
		if sameDomain(o.GetDomain(), domain) {
			o.Version = proto.Int64(version)
			found = true
		}
	}
	if !found {
		m.OpsetImport = append(m.OpsetImport, &onnxpb.OperatorSetIdProto{Domain: proto.String(domain), Version: proto.Int64(version)})
	}
	if sameDomain(domain, "") {
		if ir := MinIRVersion(version); m.GetIrVersion() < ir {
			m.IrVersion = proto.Int64(ir)
		}
	}
}

// MinIRVersion is the lowest IR version that may carry an ai.onnx opset
// (the pairing table of ONNX's Versioning.md: opset 9 came with IR 4,
// 11 with IR 6, 13 with IR 7, 15 with IR 8, ...).
func MinIRVersion(opset int64) int64 {
	switch {
	case opset <= 8:
		return 3
	case opset == 9:
		return 4
	case opset == 10:
		return 5
	case opset == 11:
		return 6
	case opset <= 14:
		return 7
	case opset <= 18:
		return 8
	case opset <= 20:
		return 9
	}
	return 10
}

func sameDomain(a, b string) bool {
	norm := func(s string) string {
		if s == "ai.onnx" {
			return ""
		}
		return s
	}
	return norm(a) == norm(b)
}
