package eval

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
)

// Output formats of Predictions.Write.
const (
	// PredictCSV is a CSV table with a header line, one row per sample.
	PredictCSV = "csv"
	// PredictJSONL is JSON Lines: one JSON object per sample, one per line.
	PredictJSONL = "jsonl"
)

// Write writes the predictions to w in format, PredictCSV or PredictJSONL.
//
// CSV: the header names the columns, then one row per sample: "file" (the sample's path in the
// image folder) or "index" (its index from 0) first, then "class" (the most probable class),
// "name" (its name; the index when the model records no names) and "probability"; "label" (the
// true class, numbered as the model's) when the data has labels; "class_<r>", "name_<r>" and
// "probability_<r>" for the r-th most probable class, r = 2..TopK; "logit_0".."logit_<C-1>"
// with Logits.
//
// JSON Lines: objects with the same fields ("file" a string, "index" a number), the TopK
// classes as "top": [{"class", "name", "probability"}, ...] (most probable first) when TopK is
// over 1, and "logits": [...] with Logits.
//
// Numbers are written with the shortest decimal that reads back as the same float32, the
// precision the scores have.
func (p *Predictions) Write(w io.Writer, format string) error {
	switch format {
	case PredictCSV:
		return p.writeCSV(w)
	case PredictJSONL:
		return p.writeJSONL(w)
	}
	return fmt.Errorf("write predictions: unknown format %q: want %s or %s", format, PredictCSV, PredictJSONL)
}

// idColumn is the name of the first column (or field): what the samples are named by.
func (p *Predictions) idColumn() string {
	if p.ByFile {
		return "file"
	}
	return "index"
}

func (p *Predictions) writeCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	header := []string{p.idColumn(), "class", "name", "probability"}
	if p.Metrics != nil {
		header = append(header, "label")
	}
	for r := 2; r <= p.TopK; r++ {
		header = append(header, fmt.Sprintf("class_%d", r), fmt.Sprintf("name_%d", r), fmt.Sprintf("probability_%d", r))
	}
	if p.Logits {
		for c := range p.Classes {
			header = append(header, fmt.Sprintf("logit_%d", c))
		}
	}
	if err := cw.Write(header); err != nil {
		return fmt.Errorf("write predictions: %w", err)
	}
	row := make([]string, 0, len(header))
	for _, s := range p.Samples {
		top := s.Top[0]
		row = append(row[:0], s.ID, strconv.Itoa(top.Class), top.Name, numString(top.Prob))
		if p.Metrics != nil {
			row = append(row, strconv.Itoa(s.Label))
		}
		for _, t := range s.Top[1:] {
			row = append(row, strconv.Itoa(t.Class), t.Name, numString(t.Prob))
		}
		for _, z := range s.Logits {
			row = append(row, numString(float64(z)))
		}
		if err := cw.Write(row); err != nil {
			return fmt.Errorf("write predictions: %w", err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("write predictions: %w", err)
	}
	return nil
}

// jsonRanked is one of the top classes of a JSON line.
type jsonRanked struct {
	Class int     `json:"class"`
	Name  string  `json:"name"`
	Prob  float32 `json:"probability"`
}

// jsonPrediction is one JSON line. Exactly one of File and Index is set. Probabilities are
// float32, which encoding/json writes in their shortest form.
type jsonPrediction struct {
	File   *string      `json:"file,omitempty"`
	Index  *int         `json:"index,omitempty"`
	Class  int          `json:"class"`
	Name   string       `json:"name"`
	Prob   float32      `json:"probability"`
	Label  *int         `json:"label,omitempty"`
	Top    []jsonRanked `json:"top,omitempty"`
	Logits []float32    `json:"logits,omitempty"`
}

func (p *Predictions) writeJSONL(w io.Writer) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	for i, s := range p.Samples {
		top := s.Top[0]
		line := jsonPrediction{Class: top.Class, Name: top.Name, Prob: float32(top.Prob), Logits: s.Logits}
		if p.ByFile {
			line.File = &s.ID
		} else {
			line.Index = &i
		}
		if p.Metrics != nil {
			line.Label = &s.Label
		}
		if p.TopK > 1 {
			line.Top = make([]jsonRanked, len(s.Top))
			for r, t := range s.Top {
				line.Top[r] = jsonRanked{Class: t.Class, Name: t.Name, Prob: float32(t.Prob)}
			}
		}
		if err := enc.Encode(line); err != nil {
			return fmt.Errorf("write predictions: sample %s: %w", s.ID, err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write predictions: %w", err)
	}
	return nil
}

// numString formats a probability or a score with the shortest decimal that reads back as the
// same float32.
func numString(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return fmt.Sprint(v) // cannot happen: runLogits refuses scores that are not finite
	}
	return strconv.FormatFloat(v, 'g', -1, 32)
}
