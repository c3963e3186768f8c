package checksum

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"testing"
)

// model is a stand-in for a marshalled model: bytes around one Key entry holding value.
func model(value string) []byte {
	b := []byte("header")
	b = append(b, entry(value)...)
	return append(b, "weights"...)
}

func TestSealThenCompute(t *testing.T) {
	data := model(Placeholder)
	want := sha256.Sum256(data)
	if !Seal(data) {
		t.Fatal("Seal: entry not found")
	}
	value := hex.EncodeToString(want[:])
	if !bytes.Equal(data, model(value)) {
		t.Fatalf("sealed data %q, want the digest %s in place of the placeholder", data, value)
	}
	sealed := bytes.Clone(data)
	got, ok := Compute(data, value)
	if !ok || got != value {
		t.Errorf("Compute = %q, %v; want %q, true", got, ok, value)
	}
	if !bytes.Equal(data, sealed) {
		t.Error("Compute modified its data")
	}
	data[0] ^= 1
	if got, ok := Compute(data, value); !ok || got == value {
		t.Errorf("Compute of a flipped byte = %q, %v; want another digest", got, ok)
	}
}

func TestEntryNotOnce(t *testing.T) {
	twice := append(model(Placeholder), entry(Placeholder)...)
	for name, data := range map[string][]byte{"missing": []byte("no entry"), "twice": twice} {
		orig := bytes.Clone(data)
		if Seal(data) {
			t.Errorf("%s: Seal reported success", name)
		}
		if !bytes.Equal(data, orig) {
			t.Errorf("%s: Seal modified its data", name)
		}
		if _, ok := Compute(data, Placeholder); ok {
			t.Errorf("%s: Compute reported success", name)
		}
	}
	if _, ok := Compute(model("abc"), "abc"); ok {
		t.Error("Compute accepted a value that is not a hex sha256")
	}
}
