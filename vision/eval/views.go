package eval

import (
	"fmt"
	"strconv"
	"strings"
)

// View is one way of looking at an image: the whole of it, mirrored, or a
// crop, so that a few images give several distinct model inputs. Keeping
// calibration views apart from evaluation views (calibrate on crops,
// evaluate on whole and mirrored images) measures a quantised model on
// inputs it was not calibrated on.
type View struct {
	// Name is the view's name as ParseViews reads it; samples get it as a
	// "#name" suffix (none for "full").
	Name string
	// Mirror flips the image left to right (after cropping).
	Mirror bool
	// Crop keeps this fraction of each side (0 or 1: the whole image),
	// placed at (X, Y): 0 the left/top edge, 0.5 the centre, 1 the
	// right/bottom edge.
	Crop, X, Y float64
}

func (v View) apply(img *rgbImage) *rgbImage {
	if v.Crop > 0 && v.Crop < 1 {
		img = img.crop(v.Crop, v.X, v.Y)
	}
	if v.Mirror {
		img = img.mirror()
	}
	return img
}

// ParseViews reads a comma-separated list of views: "full", "mirror",
// "crop" (the central 75%), "cropF" (the central fraction F, e.g.
// "crop0.6"), either crop with a corner suffix "-tl", "-tr", "-bl", "-br",
// and any of them prefixed with "mirror-" (e.g. "mirror-crop0.6-br").
func ParseViews(list string) ([]View, error) {
	var out []View
	for _, name := range strings.Split(list, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		v, err := parseView(name)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("views: empty list")
	}
	return out, nil
}

func parseView(name string) (View, error) {
	v := View{Name: name, X: 0.5, Y: 0.5}
	rest := name
	if rest == "mirror" {
		v.Mirror = true
		return v, nil
	}
	if r, ok := strings.CutPrefix(rest, "mirror-"); ok {
		v.Mirror, rest = true, r
	}
	if rest == "full" {
		return v, nil
	}
	crop, ok := strings.CutPrefix(rest, "crop")
	if !ok {
		return View{}, fmt.Errorf("views: unknown view %q (want full, mirror, crop[F][-tl|-tr|-bl|-br], optionally prefixed mirror-)", name)
	}
	corners := map[string][2]float64{"-tl": {0, 0}, "-tr": {1, 0}, "-bl": {0, 1}, "-br": {1, 1}}
	for suffix, at := range corners {
		if c, ok := strings.CutSuffix(crop, suffix); ok {
			crop, v.X, v.Y = c, at[0], at[1]
			break
		}
	}
	v.Crop = 0.75
	if crop != "" {
		f, err := strconv.ParseFloat(crop, 64)
		if err != nil || f <= 0 || f > 1 {
			return View{}, fmt.Errorf("views: view %q: crop fraction %q must be a number in (0, 1]", name, crop)
		}
		v.Crop = f
	}
	return v, nil
}
