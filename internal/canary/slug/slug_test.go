package slug

import (
	"strings"
	"testing"
)

func TestNewIsValidAndUnique(t *testing.T) {
	seen := map[string]bool{}
	for range 200 {
		s, err := New()
		if err != nil {
			t.Fatalf("New() error: %v", err)
		}
		if !Valid(s) {
			t.Fatalf("New() = %q, not a valid slug", s)
		}
		if s != strings.ToLower(s) {
			t.Fatalf("New() = %q, want lowercase", s)
		}
		if seen[s] {
			t.Fatalf("New() returned %q twice", s)
		}
		seen[s] = true
	}
}

func TestValid(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"abcdefghijklmnopqrstuvwxyz", true},
		{"ABCDEFGHIJKLMNOPQRSTUVWXY2", true},
		{"abcdefghijklmnopqrstuvwx27", true},
		{"abcdefghijklmnopqrstuvwxy1", false},
		{"abcdefghijklmnopqrstuvwxy8", false},
		{"abcdefghijklmnopqrstuvwxy", false},
		{"abcdefghijklmnopqrstuvwxyza", false},
		{"abcdefghijklmnopqrstuvwxy-", false},
		{"abcdefghijklmnopqrstuvwxy_", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := Valid(tt.in); got != tt.want {
			t.Errorf("Valid(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestEqualIgnoresCase(t *testing.T) {
	if !Equal("abcdefghijklmnopqrstuvwxy2", "ABCDEFGHIJKLMNOPQRSTUVWXY2") {
		t.Error("Equal() = false for slugs that differ only in case")
	}
	if Equal("abcdefghijklmnopqrstuvwxy2", "abcdefghijklmnopqrstuvwxy3") {
		t.Error("Equal() = true for different slugs")
	}
}
