package cli

import (
	"bytes"
	"strings"
	"testing"
)

func TestSimulateLevels(t *testing.T) {
	files := []string{
		"../cluster/testdata/scenarios/multi_operator.yaml",
		"../cluster/testdata/scenarios/multi_operator.expected.yaml", // skipped as a floor file
	}
	tests := []struct {
		level string
		want  []string
	}{
		{"identity", []string{"multi_operator.yaml"}},
		{"campaign", []string{"campaign"}},
		{"both", []string{"identity", "campaign"}},
	}
	for _, tt := range tests {
		t.Run(tt.level, func(t *testing.T) {
			var out bytes.Buffer
			g := &globals{stdout: &out, stderr: &out, logFormat: "text", logLevel: "info"}
			cmd := newSimulateCmd(g)
			cmd.SetArgs(append([]string{"--seeds", "2", "--level", tt.level}, files...))
			cmd.SetOut(&out)
			cmd.SetErr(&out)
			if err := cmd.Execute(); err != nil {
				t.Fatalf("simulate --level %s: %v\n%s", tt.level, err, out.String())
			}
			for _, w := range tt.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("simulate --level %s output lacks %q:\n%s", tt.level, w, out.String())
				}
			}
		})
	}

	var out bytes.Buffer
	cmd := newSimulateCmd(&globals{stdout: &out, stderr: &out, logFormat: "text", logLevel: "info"})
	cmd.SetArgs([]string{"--level", "galaxy", files[0]})
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	if err := cmd.Execute(); err == nil || !strings.Contains(err.Error(), "--level") {
		t.Errorf("simulate --level galaxy = %v, want an error naming --level", err)
	}
}
