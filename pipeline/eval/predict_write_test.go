package eval_test

import (
	"strings"
	"testing"

	"github.com/distillgo/distill/pipeline/eval"
)

// TestPredictionsWrite checks the CSV and JSON Lines forms of predictions, whole: the id column
// named for what it holds, the label column only with labels, top-k and logit columns only
// when asked, a file name with a comma quoted, numbers at float32 precision.
func TestPredictionsWrite(t *testing.T) {
	byIndex := &eval.Predictions{Classes: 3, TopK: 1, Samples: []eval.Prediction{
		{ID: "0", Label: -1, Top: []eval.Ranked{{Class: 2, Name: "2", Prob: 0.75}}},
		{ID: "1", Label: -1, Top: []eval.Ranked{{Class: 0, Name: "0", Prob: 1.0 / 3}}},
	}}
	byFile := &eval.Predictions{Classes: 3, TopK: 2, Logits: true, ByFile: true, Metrics: &eval.Classification{},
		Samples: []eval.Prediction{
			{ID: "cat, 1.png", Label: 1, Top: []eval.Ranked{{Class: 1, Name: "cat", Prob: 0.5}, {Class: 0, Name: "dog", Prob: 0.25}},
				Logits: []float32{1, 2, 1}},
			{ID: "b.png", Label: 0, Top: []eval.Ranked{{Class: 2, Name: "say \"hi\"", Prob: 0.9}, {Class: 1, Name: "cat", Prob: 0.05}},
				Logits: []float32{-1.5, 0.25, 3}},
		}}
	tests := []struct {
		name   string
		p      *eval.Predictions
		format string
		want   string
	}{
		{"csv by index", byIndex, eval.PredictCSV, "index,class,name,probability\n0,2,2,0.75\n1,0,0,0.33333334\n"},
		{"jsonl by index", byIndex, eval.PredictJSONL,
			`{"index":0,"class":2,"name":"2","probability":0.75}` + "\n" + `{"index":1,"class":0,"name":"0","probability":0.33333334}` + "\n"},
		{"csv by file, labels, top 2, logits", byFile, eval.PredictCSV,
			"file,class,name,probability,label,class_2,name_2,probability_2,logit_0,logit_1,logit_2\n" +
				"\"cat, 1.png\",1,cat,0.5,1,0,dog,0.25,1,2,1\n" +
				"b.png,2,\"say \"\"hi\"\"\",0.9,0,1,cat,0.05,-1.5,0.25,3\n"},
		{"jsonl by file, labels, top 2, logits", byFile, eval.PredictJSONL,
			`{"file":"cat, 1.png","class":1,"name":"cat","probability":0.5,"label":1,"top":[{"class":1,"name":"cat","probability":0.5},{"class":0,"name":"dog","probability":0.25}],"logits":[1,2,1]}` + "\n" +
				`{"file":"b.png","class":2,"name":"say \"hi\"","probability":0.9,"label":0,"top":[{"class":2,"name":"say \"hi\"","probability":0.9},{"class":1,"name":"cat","probability":0.05}],"logits":[-1.5,0.25,3]}` + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			if err := tt.p.Write(&b, tt.format); err != nil {
				t.Fatal(err)
			}
			if b.String() != tt.want {
				t.Errorf("got\n%s\nwant\n%s", b.String(), tt.want)
			}
		})
	}
	if err := byIndex.Write(&strings.Builder{}, "xml"); err == nil || !strings.Contains(err.Error(), `unknown format "xml"`) {
		t.Errorf("Write in xml: %v", err)
	}
}
