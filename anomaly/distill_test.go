package anomaly

import (
	"strings"
	"testing"
)

// TestDistillFollowsTheTeacher: a student distilled from a teacher gives
// reconstructions closer to the teacher's than a student of the same size
// trained on the windows themselves, so its reconstruction errors (the
// anomaly score's input) follow the teacher's.
func TestDistillFollowsTheTeacher(t *testing.T) {
	wins := SyntheticWindows(3000, 16, 4)
	teacher, _, err := Train(wins, TrainConfig{Hidden: []int{32, 4, 32}, Epochs: 15, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	cfg := TrainConfig{Hidden: []int{8, 4, 8}, Epochs: 15, Seed: 2}
	student, res, err := Distill(teacher, wins, cfg)
	if err != nil {
		t.Fatal(err)
	}
	direct, _, err := Train(wins, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got := student.Widths(); len(got) != 5 || got[1] != 8 || got[2] != 4 || student.Params() >= teacher.Params() {
		t.Fatalf("student %v (%d parameters), teacher %d", got, student.Params(), teacher.Params())
	}
	if last := res.Loss[len(res.Loss)-1]; last > res.Initial/5 {
		t.Fatalf("distillation loss %.4f → %.4f", res.Initial, last)
	}
	// Mean squared distance from the teacher's outputs, and how well the
	// errors agree, on windows of a seed neither saw.
	held := SyntheticWindows(1000, 16, 99)
	var dStudent, dDirect, eStudent, eDirect float64
	for _, x := range held {
		yt := teacher.Forward(x, nil)
		ys, yd := student.Forward(x, nil), direct.Forward(x, nil)
		dStudent += MSE(ys, yt)
		dDirect += MSE(yd, yt)
		et := MSE(x, yt)
		eStudent += abs(MSE(x, ys) - et)
		eDirect += abs(MSE(x, yd) - et)
	}
	if dStudent >= 0.8*dDirect {
		t.Errorf("distance from the teacher's reconstructions: distilled %.4f, trained directly %.4f; want distillation at least 20%% closer", dStudent/1000, dDirect/1000)
	}
	if eStudent >= eDirect {
		t.Errorf("error gap to the teacher: distilled %.4f, trained directly %.4f", eStudent/1000, eDirect/1000)
	}
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

func TestDistillRejectsBadInput(t *testing.T) {
	teacher, _, err := Train(SyntheticWindows(200, 16, 1), TrainConfig{Epochs: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		teacher *Autoencoder
		wins    [][]float32
		want    string
	}{
		{"no teacher", nil, SyntheticWindows(10, 16, 1), "teacher"},
		{"broken teacher", &Autoencoder{Window: 16, Layers: []Layer{{In: 16, Out: 4}}}, SyntheticWindows(10, 16, 1), "teacher"},
		{"no windows", teacher, nil, "no windows"},
		{"other width", teacher, SyntheticWindows(10, 8, 1), "the teacher takes 16"},
		{"ragged", teacher, [][]float32{make([]float32, 16), make([]float32, 15)}, "window 1 has 15"},
	} {
		if _, _, err := Distill(tc.teacher, tc.wins, TrainConfig{Epochs: 1}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error with %q", tc.name, err, tc.want)
		}
	}
}
