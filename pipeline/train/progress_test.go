package train

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/distillgo/distill/pipeline/internal/synth"
)

// TestProgressLines: without a terminal, progress within an epoch is a log line with the samples
// seen, the running loss and the rate; none after an epoch's last step.
func TestProgressLines(t *testing.T) {
	var buf bytes.Buffer
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&buf, nil)))
	defer slog.SetDefault(old)
	f := synth.NewFixture(t, 200, 0.2)
	o := opts(f, "p.ckpt")
	o.Epochs, o.Batch = 1, 50
	o.Hooks = []Hook{ProgressLines(0)}
	if _, err := o.train(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	lines := strings.Count(buf.String(), "msg=progress")
	if lines != 3 || !strings.Contains(buf.String(), "samples=50/200") || !strings.Contains(buf.String(), "loss=") {
		t.Errorf("%d progress lines for 4 steps, want 3 (not after the last):\n%s", lines, buf.String())
	}
}
