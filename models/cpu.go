package models

import (
	"bufio"
	"io"
	"os"
	goruntime "runtime"
	"slices"
	"strings"
	"sync"
)

// CPU describes the processor as far as ONNX Runtime's kernels care: its
// model name and the instruction-set flags that decide which int8 and
// float kernels ORT's MLAS library dispatches to.
type CPU struct {
	Model string `json:"model"`
	Arch  string `json:"arch"` // GOARCH
	// Flags are the relevant /proc/cpuinfo flags this CPU has, in the
	// order of cpuFlags.
	Flags []string `json:"flags"`
}

// cpuFlags are the /proc/cpuinfo flags that select ORT kernels: x86 AVX2
// (U8S8 GEMM by vpmaddubsw), AVX-512, VNNI (vpdpbusd, in AVX-512 or the AVX
// form), AMX tiles (ORT 1.24.3's AMX U8S8 GEMM gives wrong results for some
// shapes; fixed in 1.25.1, PR #27671); arm64 dot product (asimddp, sdot/udot)
// and i8mm (smmla/ummla), SVE.
var cpuFlags = []string{
	"sse4_1", "avx", "avx2", "fma", "f16c",
	"avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16", "avx512_fp16",
	"avx_vnni", "avx_vnni_int8", "amx_tile", "amx_int8", "amx_bf16", "amx_fp16",
	"asimd", "asimddp", "i8mm", "sve", "sve2", "bf16", "fphp", "asimdhp",
}

var cpuOnce = sync.OnceValue(func() CPU {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return CPU{Arch: goruntime.GOARCH}
	}
	defer f.Close()
	return parseCPUInfo(f)
})

// HostCPU describes the CPU this process runs on (read once from
// /proc/cpuinfo; on other systems only Arch is set).
func HostCPU() CPU { return cpuOnce() }

// parseCPUInfo reads the first processor's model name and flags (x86
// "flags", arm64 "Features") from /proc/cpuinfo.
func parseCPUInfo(r io.Reader) CPU {
	c := CPU{Arch: goruntime.GOARCH}
	have := map[string]bool{}
	s := bufio.NewScanner(r)
	s.Buffer(make([]byte, 64<<10), 1<<20)
	for s.Scan() {
		key, val, ok := strings.Cut(s.Text(), ":")
		if !ok {
			continue
		}
		key, val = strings.TrimSpace(key), strings.TrimSpace(val)
		switch key {
		case "model name", "Model name", "Hardware", "CPU part":
			if c.Model == "" {
				c.Model = val
			}
		case "flags", "Features":
			if len(have) == 0 {
				for _, f := range strings.Fields(val) {
					have[f] = true
				}
			}
		}
	}
	for _, f := range cpuFlags {
		if have[f] {
			c.Flags = append(c.Flags, f)
		}
	}
	return c
}

// Has reports whether the CPU has the flag.
func (c CPU) Has(flag string) bool { return slices.Contains(c.Flags, flag) }

// Int8Kernel names the int8 GEMM path ORT's MLAS picks on this CPU (the
// one used by QLinearConv, QGemm, QLinearMatMul, MatMulInteger): AMX,
// AVX-512 VNNI, AVX-VNNI, AVX2, arm64 i8mm or dot product, else the
// portable kernel.
func (c CPU) Int8Kernel() string {
	switch {
	case c.Has("amx_tile") && c.Has("amx_int8"):
		return "AMX (amx_int8)"
	case c.Has("avx512_vnni") && c.Has("avx512bw"):
		return "AVX-512 VNNI"
	case c.Has("avx_vnni"):
		return "AVX-VNNI"
	case c.Has("avx2"):
		return "AVX2"
	case c.Has("i8mm"):
		return "arm64 i8mm (smmla)"
	case c.Has("asimddp"):
		return "arm64 dot product (sdot/udot)"
	}
	return "portable (no int8 SIMD)"
}

// String is "MODEL (ARCH: flag flag ...)".
func (c CPU) String() string {
	model := c.Model
	if model == "" {
		model = "unknown CPU"
	}
	return model + " (" + c.Arch + ": " + strings.Join(c.Flags, " ") + ")"
}
